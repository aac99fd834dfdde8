/// The schema, versioned in code: migration N brings `PRAGMA user_version` from N to N+1.
/// Append new migrations; never edit one that has shipped.
enum SQLiteSchema {
    static let migrations: [String] = [
        """
        CREATE TABLE accounts (
            domain TEXT NOT NULL,
            localpart TEXT NOT NULL,
            skeleton TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            PRIMARY KEY (domain, localpart)
        ) WITHOUT ROWID;
        CREATE INDEX accounts_by_skeleton ON accounts (domain, skeleton);
        CREATE TABLE scram_credentials (
            domain TEXT NOT NULL,
            localpart TEXT NOT NULL,
            hash TEXT NOT NULL,
            salt BLOB NOT NULL,
            iterations INTEGER NOT NULL,
            stored_key BLOB NOT NULL,
            server_key BLOB NOT NULL,
            PRIMARY KEY (domain, localpart, hash),
            FOREIGN KEY (domain, localpart) REFERENCES accounts (domain, localpart) ON DELETE CASCADE
        ) WITHOUT ROWID;
        """
    ]

    static func migrate(_ connection: SQLiteConnection) throws {
        let current = try connection.execute("PRAGMA user_version").first?.first?.integer ?? 0
        guard current <= Int64(self.migrations.count) else {
            throw SQLiteError(message: "the database was written by a newer Starling (schema \(current), this one knows \(self.migrations.count))")
        }
        for version in Int(current)..<self.migrations.count {
            try connection.transaction {
                try connection.executeScript(self.migrations[version])
                try connection.executeScript("PRAGMA user_version = \(version + 1)")
            }
        }
    }
}
