import Foundation
import XMPPCore
import XMPPSASL
import XMPPStorage
import XMPPStorageSQLite

/// `starling-bench mam [COUNT]`: fills a fresh SQLite archive with COUNT messages (default
/// 1,000,000) for one account across 100 peers, then times the queries a client makes:
/// the newest page, the oldest page, a page in the middle (after an ID), a page with one
/// peer, and a time range. Prints the median and worst of 50 runs of each, in milliseconds.

let arguments = CommandLine.arguments.dropFirst()
if arguments.first == "soak" {
    let values = Array(arguments.dropFirst())
    guard values.count == 5, let port = Int(values[1]), let users = Int(values[3]), let seconds = Int(values[4]),
        let pem = try? String(contentsOfFile: values[2], encoding: .utf8)
    else {
        print("usage: starling-bench soak HOST PORT CERT_PEM USERS SECONDS")
        exit(2)
    }
    try await Soak.run(host: values[0], port: port, certificatePEM: pem, users: users, seconds: seconds)
    exit(0)
}
if arguments.first == "pubsub" {
    try await PubSubBench.run(Array(arguments.dropFirst()))
    exit(0)
}
if arguments.first == "upload" {
    try await UploadBench.run(Array(arguments.dropFirst()))
    exit(0)
}
if arguments.first == "pubsub-server" {
    try await PubSubBench.serve(Array(arguments.dropFirst()))
    exit(0)
}
guard arguments.first == "mam" else {
    print("usage: starling-bench mam [message-count] | soak HOST PORT CERT_PEM USERS SECONDS | pubsub [contacts] [items] [--in-process] | upload [files] [MiB]")
    exit(2)
}
let total = arguments.dropFirst().first.flatMap(Int.init) ?? 1_000_000
let path = NSTemporaryDirectory() + "starling-bench-\(UUID().uuidString).sqlite"
defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }

func milliseconds(_ start: DispatchTime) -> Double {
    Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1_000_000
}

let storage = try SQLiteStorage(path: path, synchronous: "NORMAL")
let account = try JID("bench@localhost")
try await storage.createAccount(account, credentials: SCRAMCredentials.deriveAll(password: "x", iterations: 4096), skeleton: "bench")
let peers = try (0..<100).map { try JID("peer\($0)@example.org") }
let origin = Date(timeIntervalSince1970: 1_700_000_000)
var middleID = ""
let filling = DispatchTime.now()
var batch: [(message: ArchivedMessage, body: String?)] = []
batch.reserveCapacity(10_000)
for index in 0..<total {
    let peer = peers[index % peers.count]
    let body = "message number \(index) with some ordinary chat text"
    let stanza = "<message from='\(peer)/phone' to='bench@localhost/desk' type='chat' id='m\(index)'><body>\(body)</body></message>"
    let id = String(format: "%016llx", UInt64(index) &* 0x9E37_79B9_7F4A_7C15)
    if index == total / 2 { middleID = id }
    batch.append((ArchivedMessage(id: id, timestamp: origin.addingTimeInterval(Double(index)), with: peer, stanza: stanza), body))
    if batch.count == 10_000 {
        try await storage.appendBatch(batch, for: account)
        batch.removeAll(keepingCapacity: true)
    }
}
if !batch.isEmpty { try await storage.appendBatch(batch, for: account) }
print("filled \(total) messages in \(String(format: "%.1f", milliseconds(filling) / 1000)) s")

let queries: [(String, ArchiveQuery)] = [
    ("newest page (before='', max 50)", ArchiveQuery(before: "", limit: 50)),
    ("oldest page (max 50)", ArchiveQuery(limit: 50)),
    ("page after an ID in the middle", ArchiveQuery(after: middleID, limit: 50)),
    ("newest page with one peer", ArchiveQuery(with: peers[42], before: "", limit: 50)),
    ("one hour in the middle", ArchiveQuery(start: origin.addingTimeInterval(Double(total / 2)), end: origin.addingTimeInterval(Double(total / 2 + 3600)), limit: 50)),
]
print("| query | median ms | worst ms |")
print("|---|---|---|")
for (name, query) in queries {
    var times: [Double] = []
    for _ in 0..<50 {
        let start = DispatchTime.now()
        let page = try await storage.archive.query(query, for: account)
        times.append(milliseconds(start))
        precondition(page.items.count == 50, "\(name) returned \(page.items.count) items")
    }
    times.sort()
    print("| \(name) | \(String(format: "%.2f", times[times.count / 2])) | \(String(format: "%.2f", times.last ?? 0)) |")
}
await storage.close()
