import XMPPCore

/// A XEP-0004 data form: the fields of a form a service offers, or the values a client
/// submitted. Shared by the services that configure things with forms (rooms, nodes).
public struct DataForm: Sendable, Hashable {
    public struct Field: Sendable, Hashable {
        public var name: String
        public var type: String?
        public var label: String?
        public var values: [String]
        /// For list fields: (label, value).
        public var options: [(String, String)] = []

        public init(_ name: String, type: String? = nil, label: String? = nil, values: [String] = [], options: [(String, String)] = []) {
            self.name = name
            self.type = type
            self.label = label
            self.values = values
            self.options = options
        }

        public static func == (lhs: Field, rhs: Field) -> Bool {
            lhs.name == rhs.name && lhs.type == rhs.type && lhs.label == rhs.label && lhs.values == rhs.values
                && lhs.options.map(\.0) == rhs.options.map(\.0) && lhs.options.map(\.1) == rhs.options.map(\.1)
        }

        public func hash(into hasher: inout Hasher) {
            hasher.combine(self.name)
            hasher.combine(self.values)
        }
    }

    /// `form`, `submit`, `cancel` or `result`.
    public var type: String
    public var title: String?
    public var fields: [Field]
    /// Other elements carried inside the form (XEP-0133 puts a roster in its result).
    public var payloads: [Element] = []

    public init(type: String, title: String? = nil, formType: String? = nil, fields: [Field] = []) {
        self.type = type
        self.title = title
        self.fields = []
        if let formType { self.fields.append(Field("FORM_TYPE", type: "hidden", values: [formType])) }
        self.fields.append(contentsOf: fields)
    }

    /// Reads a `<x xmlns='jabber:x:data'/>` element; nil when it is something else.
    public init?(element: Element) {
        guard element.name == "x", element.namespace == XMPPNamespace.dataForms else { return nil }
        self.type = element[attribute: "type"] ?? "form"
        self.title = element.child(named: "title")?.text
        self.fields = element.children(named: "field").compactMap { field in
            guard let name = field[attribute: "var"] else { return nil }
            return Field(name, type: field[attribute: "type"], label: field[attribute: "label"], values: field.children(named: "value").map(\.text))
        }
    }

    /// The form inside `parent`, if it holds one.
    public init?(in parent: Element) {
        guard let element = parent.child(named: "x", namespace: XMPPNamespace.dataForms) else { return nil }
        self.init(element: element)
    }

    public var formType: String? { self.values("FORM_TYPE").first }

    public func values(_ name: String) -> [String] {
        self.fields.first { $0.name == name }?.values ?? []
    }

    public func value(_ name: String) -> String? { self.values(name).first }

    public func contains(_ name: String) -> Bool { self.fields.contains { $0.name == name } }

    /// A boolean field as XEP-0004 §3.3 writes them ("1"/"true", "0"/"false"); nil when absent
    /// or not a boolean.
    public func bool(_ name: String) -> Bool? {
        switch self.value(name) {
        case "1", "true": return true
        case "0", "false": return false
        default: return nil
        }
    }

    public var element: Element {
        var form = Element("x", namespace: XMPPNamespace.dataForms, attributes: [("type", self.type)])
        if let title { form.append(Element("title", namespace: XMPPNamespace.dataForms, text: title)) }
        for field in self.fields {
            var attributes = [("var", field.name)]
            if let type = field.type { attributes.append(("type", type)) }
            if let label = field.label { attributes.append(("label", label)) }
            var element = Element("field", namespace: XMPPNamespace.dataForms, attributes: attributes)
            for value in field.values { element.append(Element("value", namespace: XMPPNamespace.dataForms, text: value)) }
            for (label, value) in field.options {
                element.append(Element("option", namespace: XMPPNamespace.dataForms, attributes: [("label", label)], children: [
                    Element("value", namespace: XMPPNamespace.dataForms, text: value)
                ]))
            }
            form.append(element)
        }
        for payload in self.payloads { form.append(payload) }
        return form
    }
}
