import XMPPServer

/// The modules a server loads, with the switches of its configuration applied.
public enum DefaultModules {
    public static var all: [any ServerModule] {
        self.modules(for: ServerConfiguration())
    }

    public static func modules(for configuration: ServerConfiguration) -> [any ServerModule] {
        let policy = CommunicationPolicy()
        let pep = PersonalEventingModule()
        let commands = AdHocCommandsModule()
        var modules: [any ServerModule] = [
            RosterModule(), PresenceModule(), PushModule(), OfflineModule(), DiscoModule(), PingModule(), TimeModule(),
            LastActivityModule(), VCardModule(avatars: pep.bridge), PrivateStorageModule(bookmarks: pep.bridge), BlockingModule(policy: policy),
            PrivacyListsModule(policy: policy), CarbonsModule(), MultiUserChatModule(), PubSubModule(), pep, HTTPUploadModule(),
            commands, ServiceAdministrationModule(commands: commands.registry), InvitationsModule(commands: commands.registry), ContactAddressesModule(), ExternalServicesModule(),
        ]
        if configuration.modules.archive { modules.append(MessageArchiveModule()) }
        if configuration.modules.version { modules.append(VersionModule()) }
        if configuration.modules.registration { modules.append(RegistrationModule()) }
        return modules
    }
}
