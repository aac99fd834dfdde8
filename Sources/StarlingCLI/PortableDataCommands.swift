import ArgumentParser
import Foundation
#if canImport(Glibc)
import Glibc
#endif
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
            try Self.writeNew(self.file, Array(xml.utf8))
            print("exported \(counts) to \(self.file)")
        }
    }
}

extension ExportCommand {
    /// Creates the file with mode 0600 from the start (it holds password verifiers), and never
    /// over an existing one.
    static func writeNew(_ path: String, _ bytes: [UInt8]) throws {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard descriptor >= 0 else {
            let reason = errno == EEXIST ? "it exists already; choose another name or remove it" : String(cString: strerror(errno))
            throw CLIError("cannot write \(path): \(reason)")
        }
        defer { close(descriptor) }
        var written = 0
        while written < bytes.count {
            let count = bytes[written...].withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            guard count > 0 else { throw CLIError("cannot write \(path): \(String(cString: strerror(errno)))") }
            written += count
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
        // Every file is read, and every user's credentials checked, before anything is
        // written: a broken file changes nothing.
        var everything: Element?
        for file in files {
            do {
                let document = try PortableData.read(file: file)
                everything?.append(contentsOf: document.elements)
                everything = everything ?? document
            } catch {
                throw CLIError("\(error)")
            }
        }
        guard let everything else { throw CLIError("no .xml files in \(self.paths.joined(separator: ", "))") }
        try await StorageCommand.run(self.options) { storage, hosts in
            let total: PortableData.ImportReport
            do {
                total = try await PortableData.importUsers(everything, hosts: Set(hosts), into: storage)
            } catch let error as PortableData.ImportError {
                throw CLIError("\(error); nothing was imported")
            }
            print("imported \(total.counts) from \(files.count) file(s)")
            for skipped in total.skipped { print("skipped \(skipped)") }
            for account in total.withoutCredentials { print("\(account) has no password in the file: set one with `starling passwd`") }
        }
    }
}
