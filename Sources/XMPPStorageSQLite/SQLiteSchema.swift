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
        """,
        """
        CREATE TABLE roster_versions (
            domain TEXT NOT NULL,
            localpart TEXT NOT NULL,
            version INTEGER NOT NULL,
            PRIMARY KEY (domain, localpart),
            FOREIGN KEY (domain, localpart) REFERENCES accounts (domain, localpart) ON DELETE CASCADE
        ) WITHOUT ROWID;
        CREATE TABLE roster_items (
            domain TEXT NOT NULL,
            localpart TEXT NOT NULL,
            contact TEXT NOT NULL,
            name TEXT,
            groups TEXT NOT NULL,
            subscription TEXT NOT NULL,
            ask INTEGER NOT NULL,
            pending_in INTEGER NOT NULL,
            approved INTEGER NOT NULL,
            in_roster INTEGER NOT NULL,
            pending_request TEXT,
            version INTEGER NOT NULL,
            removed INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (domain, localpart, contact),
            FOREIGN KEY (domain, localpart) REFERENCES accounts (domain, localpart) ON DELETE CASCADE
        ) WITHOUT ROWID;
        CREATE INDEX roster_items_by_version ON roster_items (domain, localpart, version);
        CREATE TABLE offline_messages (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            domain TEXT NOT NULL,
            localpart TEXT NOT NULL,
            stamp REAL NOT NULL,
            stanza TEXT NOT NULL,
            FOREIGN KEY (domain, localpart) REFERENCES accounts (domain, localpart) ON DELETE CASCADE
        );
        CREATE INDEX offline_messages_by_account ON offline_messages (domain, localpart, id);
        CREATE TABLE account_data (
            domain TEXT NOT NULL,
            localpart TEXT NOT NULL,
            key TEXT NOT NULL,
            value TEXT NOT NULL,
            PRIMARY KEY (domain, localpart, key),
            FOREIGN KEY (domain, localpart) REFERENCES accounts (domain, localpart) ON DELETE CASCADE
        ) WITHOUT ROWID;
        """,
        """
        CREATE TABLE archive (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            domain TEXT NOT NULL,
            localpart TEXT NOT NULL,
            id TEXT NOT NULL,
            stamp REAL NOT NULL,
            with_jid TEXT NOT NULL,
            body TEXT,
            stanza TEXT NOT NULL,
            FOREIGN KEY (domain, localpart) REFERENCES accounts (domain, localpart) ON DELETE CASCADE
        );
        CREATE UNIQUE INDEX archive_by_id ON archive (domain, localpart, id);
        CREATE INDEX archive_by_account ON archive (domain, localpart, seq);
        CREATE INDEX archive_by_peer ON archive (domain, localpart, with_jid, seq);
        CREATE INDEX archive_by_time ON archive (domain, localpart, stamp);
        CREATE INDEX archive_by_age ON archive (stamp);
        """,
        // Documents owned by modules (`ModuleStorage`): one generic table instead of a table
        // per module in every backend, and the schema version each module has reached.
        """
        CREATE TABLE module_documents (
            module TEXT NOT NULL,
            collection TEXT NOT NULL,
            key TEXT NOT NULL,
            value TEXT NOT NULL,
            updated_at REAL NOT NULL,
            PRIMARY KEY (module, collection, key)
        ) WITHOUT ROWID;
        CREATE TABLE module_schemas (
            module TEXT NOT NULL PRIMARY KEY,
            version INTEGER NOT NULL
        ) WITHOUT ROWID;
        """,
        // Archives of chat rooms (XEP-0045 with XEP-0313): the account archive's columns, keyed
        // by the room's JID, which is no account.
        """
        CREATE TABLE room_archive (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            domain TEXT NOT NULL,
            localpart TEXT NOT NULL,
            id TEXT NOT NULL,
            stamp REAL NOT NULL,
            with_jid TEXT NOT NULL,
            body TEXT,
            stanza TEXT NOT NULL
        );
        CREATE UNIQUE INDEX room_archive_by_id ON room_archive (domain, localpart, id);
        CREATE INDEX room_archive_by_room ON room_archive (domain, localpart, seq);
        CREATE INDEX room_archive_by_time ON room_archive (domain, localpart, stamp);
        """,
    ]

    /// Brings the schema up to date. Two processes may open a new file at once (two
    /// `starling adduser` on a fresh data directory): each step reads the version inside its
    /// `BEGIN IMMEDIATE` transaction, which waits (busy timeout) for the other writer, so a
    /// migration another process has just applied is skipped instead of run twice.
    static func migrate(_ connection: SQLiteConnection) throws {
        while try connection.transaction({ try self.applyNextMigration(connection) }) {}
    }

    /// Applies the migration after the current version; false when there is none left.
    private static func applyNextMigration(_ connection: SQLiteConnection) throws -> Bool {
        let current = try connection.execute("PRAGMA user_version").first?.first?.integer ?? 0
        guard current <= Int64(self.migrations.count) else {
            throw SQLiteError(message: "the database was written by a newer Starling (schema \(current), this one knows \(self.migrations.count))")
        }
        guard current < Int64(self.migrations.count) else { return false }
        try connection.executeScript(self.migrations[Int(current)])
        try connection.executeScript("PRAGMA user_version = \(current + 1)")
        return true
    }
}
