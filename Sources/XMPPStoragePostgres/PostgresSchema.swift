import Logging
import PostgresNIO
import XMPPStorage

/// The schema, versioned in code: migration N brings the `schema_version` table from N to N+1,
/// one row per migration applied. Append new migrations; never edit one that has shipped.
///
/// The tables mirror SQLite's (`SQLiteSchema`), with PostgreSQL's types: keys and names are
/// `COLLATE "C"` so that they sort byte for byte as SQLite's BINARY collation does, whatever the
/// database's locale; module document keys are `bytea`, because they hold NUL separators and
/// PostgreSQL text cannot; archives keep the body lower-cased by Swift beside it, so full-text
/// search matches exactly what SQLite and the in-memory backend match.
enum PostgresSchema {
    struct Migration {
        var summary: String
        var statements: [String]
    }

    static let migrations: [Migration] = [
        Migration(
            summary: "accounts and SCRAM credentials",
            statements: [
                """
                CREATE TABLE accounts (
                    domain text COLLATE "C" NOT NULL,
                    localpart text COLLATE "C" NOT NULL,
                    skeleton text COLLATE "C" NOT NULL,
                    created_at timestamptz NOT NULL DEFAULT now(),
                    PRIMARY KEY (domain, localpart)
                )
                """,
                "CREATE INDEX accounts_by_skeleton ON accounts (domain, skeleton)",
                """
                CREATE TABLE scram_credentials (
                    domain text COLLATE "C" NOT NULL,
                    localpart text COLLATE "C" NOT NULL,
                    hash text NOT NULL,
                    salt bytea NOT NULL,
                    iterations integer NOT NULL,
                    stored_key bytea NOT NULL,
                    server_key bytea NOT NULL,
                    PRIMARY KEY (domain, localpart, hash),
                    FOREIGN KEY (domain, localpart) REFERENCES accounts (domain, localpart) ON DELETE CASCADE
                )
                """,
            ]),
        Migration(
            summary: "rosters, offline messages, account data",
            statements: [
                """
                CREATE TABLE roster_versions (
                    domain text COLLATE "C" NOT NULL,
                    localpart text COLLATE "C" NOT NULL,
                    version bigint NOT NULL,
                    PRIMARY KEY (domain, localpart),
                    FOREIGN KEY (domain, localpart) REFERENCES accounts (domain, localpart) ON DELETE CASCADE
                )
                """,
                """
                CREATE TABLE roster_items (
                    domain text COLLATE "C" NOT NULL,
                    localpart text COLLATE "C" NOT NULL,
                    contact text COLLATE "C" NOT NULL,
                    name text,
                    groups text[] NOT NULL,
                    subscription text NOT NULL,
                    ask boolean NOT NULL,
                    pending_in boolean NOT NULL,
                    approved boolean NOT NULL,
                    in_roster boolean NOT NULL,
                    pending_request text,
                    version bigint NOT NULL,
                    removed boolean NOT NULL DEFAULT false,
                    PRIMARY KEY (domain, localpart, contact),
                    FOREIGN KEY (domain, localpart) REFERENCES accounts (domain, localpart) ON DELETE CASCADE
                )
                """,
                "CREATE INDEX roster_items_by_version ON roster_items (domain, localpart, version)",
                """
                CREATE TABLE offline_messages (
                    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                    domain text COLLATE "C" NOT NULL,
                    localpart text COLLATE "C" NOT NULL,
                    stamp timestamptz NOT NULL,
                    stanza text NOT NULL,
                    FOREIGN KEY (domain, localpart) REFERENCES accounts (domain, localpart) ON DELETE CASCADE
                )
                """,
                "CREATE INDEX offline_messages_by_account ON offline_messages (domain, localpart, id)",
                """
                CREATE TABLE account_data (
                    domain text COLLATE "C" NOT NULL,
                    localpart text COLLATE "C" NOT NULL,
                    key text COLLATE "C" NOT NULL,
                    value text NOT NULL,
                    PRIMARY KEY (domain, localpart, key),
                    FOREIGN KEY (domain, localpart) REFERENCES accounts (domain, localpart) ON DELETE CASCADE
                )
                """,
            ]),
        Migration(
            summary: "message archives of accounts and of rooms",
            statements: [
                """
                CREATE TABLE archive (
                    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                    domain text COLLATE "C" NOT NULL,
                    localpart text COLLATE "C" NOT NULL,
                    id text COLLATE "C" NOT NULL,
                    stamp timestamptz NOT NULL,
                    with_jid text COLLATE "C" NOT NULL,
                    body text,
                    body_lower text,
                    stanza text NOT NULL,
                    FOREIGN KEY (domain, localpart) REFERENCES accounts (domain, localpart) ON DELETE CASCADE
                )
                """,
                "CREATE UNIQUE INDEX archive_by_id ON archive (domain, localpart, id)",
                "CREATE INDEX archive_by_account ON archive (domain, localpart, seq)",
                "CREATE INDEX archive_by_peer ON archive (domain, localpart, with_jid, seq)",
                "CREATE INDEX archive_by_time ON archive (domain, localpart, stamp)",
                "CREATE INDEX archive_by_age ON archive (stamp)",
                // A room's archive belongs to no account: no foreign key.
                """
                CREATE TABLE room_archive (
                    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                    domain text COLLATE "C" NOT NULL,
                    localpart text COLLATE "C" NOT NULL,
                    id text COLLATE "C" NOT NULL,
                    stamp timestamptz NOT NULL,
                    with_jid text COLLATE "C" NOT NULL,
                    body text,
                    body_lower text,
                    stanza text NOT NULL
                )
                """,
                "CREATE UNIQUE INDEX room_archive_by_id ON room_archive (domain, localpart, id)",
                "CREATE INDEX room_archive_by_room ON room_archive (domain, localpart, seq)",
                "CREATE INDEX room_archive_by_time ON room_archive (domain, localpart, stamp)",
                "CREATE INDEX room_archive_by_age ON room_archive (stamp)",
            ]),
        Migration(
            summary: "module documents and module schema versions",
            statements: [
                """
                CREATE TABLE module_documents (
                    module text COLLATE "C" NOT NULL,
                    collection text COLLATE "C" NOT NULL,
                    key bytea NOT NULL,
                    value text NOT NULL,
                    updated_at timestamptz NOT NULL,
                    PRIMARY KEY (module, collection, key)
                )
                """,
                """
                CREATE TABLE module_schemas (
                    module text COLLATE "C" NOT NULL PRIMARY KEY,
                    version integer NOT NULL
                )
                """,
            ]),
    ]

    /// Brings the schema up to date in one transaction that holds an advisory lock named for
    /// the schema: when two nodes start on a new database at once, the second waits for the
    /// first and then finds nothing left to do. DDL is transactional in PostgreSQL, so a
    /// migration that fails leaves nothing behind.
    static func migrate(_ connection: PostgresConnection, settings: PostgresSettings, logger: Logger) async throws {
        try await PostgresStorage.inTransaction(connection, logger: logger) { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(\(AdvisoryLock.key("schema", settings.schema ?? "")))", logger: logger)
            if let schema = settings.schema {
                try PostgresSettings.checkSchemaName(schema)
                // CREATE SCHEMA IF NOT EXISTS needs the database's CREATE privilege even when the
                // schema exists: a least-privilege role that owns a schema made for it would fail.
                let existing = try await connection.query("SELECT 1 FROM pg_namespace WHERE nspname = \(schema)", logger: logger)
                var found = false
                for try await _ in existing { found = true }
                if !found {
                    // The name was checked to be a plain identifier: it cannot be a bind parameter here.
                    try await connection.query(PostgresQuery(unsafeSQL: "CREATE SCHEMA \(schema)"), logger: logger)
                }
            }
            try await connection.query(
                """
                CREATE TABLE IF NOT EXISTS schema_version (
                    version integer PRIMARY KEY,
                    summary text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now()
                )
                """, logger: logger)
            var current = 0
            for try await version in try await connection.query("SELECT coalesce(max(version), 0)::integer FROM schema_version", logger: logger).decode(Int.self) {
                current = version
            }
            guard current <= self.migrations.count else {
                throw StorageError.backend(
                    "the database was written by a newer Starling (schema \(current), this one knows \(self.migrations.count))")
            }
            for (index, migration) in self.migrations.enumerated().dropFirst(current) {
                for statement in migration.statements {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await connection.query(
                    "INSERT INTO schema_version (version, summary) VALUES (\(index + 1), \(migration.summary))", logger: logger)
                logger.info("applied schema migration", metadata: ["version": "\(index + 1)", "summary": "\(migration.summary)"])
            }
        }
    }
}

/// Advisory lock keys: a 64-bit FNV-1a hash of a name, the same in every process, so that nodes
/// sharing a database take the same lock for the same purpose. A collision with another
/// application's lock only makes one of them wait.
enum AdvisoryLock {
    static func key(_ parts: String...) -> Int64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in ("starling\u{0}" + parts.joined(separator: "\u{0}")).utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return Int64(bitPattern: hash)
    }
}
