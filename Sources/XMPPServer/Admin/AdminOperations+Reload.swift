import Foundation
import Logging

extension AdminOperations {
    // MARK: - Reload

    /// Reads the configuration the server was started with again (its file, for `starling
    /// serve`) and applies what can change while it runs: the certificate and key for new
    /// connections (open ones keep theirs), the log level and the administrators. Other
    /// changes are reported as needing a restart. A configuration or certificate that does not
    /// load is refused with the reason, and the server goes on as it was.
    public func reload() throws(AdminError) -> AdminReloadReport {
        guard let reloader = self.reloader else { throw .badConfiguration("this server has no configuration to read again") }
        let report: AdminReloadReport
        do {
            report = try reloader.reload()
        } catch {
            self.core.logger.error("configuration not reloaded; the running configuration stays", metadata: ["reason": "\(error.description)"])
            throw error
        }
        var metadata: Logger.Metadata = ["applied": "\(report.applied.map { "\($0.setting): \($0.detail)" })"]
        if !report.restartRequired.isEmpty { metadata["restart_required"] = "\(report.restartRequired)" }
        self.core.logger.notice("configuration reloaded", metadata: metadata)
        for warning in report.warnings { self.core.logger.warning("\(warning)") }
        return report
    }
}
