import ArgumentParser
import Foundation
import XMPPCore
import XMPPServer
import XMPPServerModules
import XMPPStorage

/// `starling export FILE`: the accounts in XEP-0227's portable format, for another server.
struct ExportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write accounts, SCRAM keys, rosters, vCards, private XML and offline messages to a XEP-0227 file.")

    @Argument(help: "The file to write (created with mode 0600: it holds password verifiers).")
    var file: String

    @Option(name: .customLong("only"), help: "Export only this hosted domain (repeatable); all by default.")
    var domains: [String] = []

    @OptionGroup var options: ConfigurationOptions

    func run() async throws {
        try await StorageCommand.run(self.options) { storage, hosts in
            for domain in self.domains where !hosts.contains(domain) {
                throw CLIError("\(domain) is not a domain this server hosts (\(hosts.joined(separator: ", ")))")
            }
            guard let source = storage as? any StorageExporting else {
                throw CLIError("this storage backend cannot be exported yet; `starling migrate-storage` it to SQLite first")
            }
            let (xml, counts) = try await PortableData.export(from: source, domains: Set(self.domains))
            guard FileManager.default.createFile(atPath: self.file, contents: Data(xml.utf8), attributes: [.posixPermissions: 0o600]) else {
                throw CLIError("cannot write \(self.file)")
            }
            print("exported \(counts) to \(self.file)")
        }
    }
}

/// `starling import FILE...`: accounts from XEP-0227 files (Starling's, Prosody's, ejabberd's).
struct ImportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Read accounts and their data from XEP-0227 files or directories of them; existing accounts are left as they are.")

    @Argument(help: "XEP-0227 files, or directories whose .xml files are read (Prosody writes one per user).")
    var paths: [String]

    @OptionGroup var options: ConfigurationOptions

    func validate() throws {
        guard !self.paths.isEmpty else { throw ValidationError("name at least one file or directory to import") }
    }

    /// The files to read: each file named, and the .xml files under each directory, in order.
    private func files() throws -> [String] {
        var files: [String] = []
        for path in self.paths {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { throw CLIError("\(path): no such file or directory") }
            guard isDirectory.boolValue else {
                files.append(path)
                continue
            }
            let enumerator = FileManager.default.enumerator(atPath: path)
            while let entry = enumerator?.nextObject() as? String {
                if entry.hasSuffix(".xml") { files.append((path as NSString).appendingPathComponent(entry)) }
            }
        }
        return files.sorted()
    }

    func run() async throws {
        let files = try self.files()
        guard !files.isEmpty else { throw CLIError("no .xml files in \(self.paths.joined(separator: ", "))") }
        // Every file is read before anything is written: a broken one changes nothing.
        var documents: [Element] = []
        for file in files {
            do {
                documents.append(try PortableData.read(file: file))
            } catch {
                throw CLIError("\(error)")
            }
        }
        try await StorageCommand.run(self.options) { storage, hosts in
            var total = PortableData.ImportReport()
            for document in documents {
                let report = try await PortableData.importUsers(document, hosts: Set(hosts), into: storage)
                total.merge(report)
            }
            print("imported \(total.counts) from \(files.count) file(s)")
            for skipped in total.skipped { print("skipped \(skipped)") }
            for account in total.withoutCredentials { print("\(account) has no password in the file: set one with `starling passwd`") }
        }
    }
}
