import Testing
import XMPPCore
@testable import XMPPServerModules

@Suite("DataForm (XEP-0004)")
struct DataFormTests {
    @Test("a form survives building and parsing: type, title, FORM_TYPE, fields with types, labels, values")
    func roundTrip() throws {
        let form = DataForm(type: "form", title: "Configure", formType: "urn:example:form", fields: [
            DataForm.Field("name", type: "text-single", label: "Name", values: ["coven"]),
            DataForm.Field("owners", type: "jid-multi", values: ["a@example.com", "b@example.com"]),
            DataForm.Field("empty", type: "boolean"),
        ])
        let element = form.element
        #expect(element.name == "x")
        #expect(element.namespace == "jabber:x:data")
        #expect(element[attribute: "type"] == "form")
        let parsed = try #require(DataForm(element: element))
        #expect(parsed == form)
        #expect(parsed.title == "Configure")
        #expect(parsed.formType == "urn:example:form")
        #expect(parsed.fields.first?.name == "FORM_TYPE")
        #expect(parsed.fields.first?.type == "hidden")
        #expect(parsed.values("owners") == ["a@example.com", "b@example.com"])
        #expect(parsed.value("name") == "coven")
        #expect(parsed.fields.first { $0.name == "name" }?.label == "Name")
        #expect(parsed.value("empty") == nil)
        #expect(parsed.contains("empty"))
        #expect(!parsed.contains("missing"))
        #expect(parsed.values("missing") == [])
    }

    @Test("the text form goes through serialisation too")
    func throughText() throws {
        let form = DataForm(type: "submit", formType: "urn:example:form", fields: [DataForm.Field("a", values: ["1", "<two> & 'three'"])])
        let reparsed = try #require(Element.parse(form.element.storedText))
        #expect(DataForm(element: reparsed) == form)
    }

    @Test("list options are written as option elements with a label and a value")
    func options() throws {
        let form = DataForm(type: "form", fields: [DataForm.Field("pick", type: "list-single", values: ["b"], options: [("Alpha", "a"), ("Beta", "b")])])
        let field = try #require(form.element.child(named: "field"))
        let options = field.children(named: "option")
        #expect(options.map { $0[attribute: "label"] } == ["Alpha", "Beta"])
        #expect(options.map { $0.child(named: "value")?.text } == ["a", "b"])
        // Options are not values.
        #expect(field.children(named: "value").map(\.text) == ["b"])
        #expect(DataForm(element: form.element)?.values("pick") == ["b"])
    }

    @Test("boolean values as XEP-0004 §3.3 writes them", arguments: [
        ("1", true as Bool?), ("true", true), ("0", false), ("false", false), ("yes", nil), ("", nil), ("TRUE", nil),
    ])
    func booleans(_ value: String, _ expected: Bool?) {
        let form = DataForm(type: "submit", fields: [DataForm.Field("flag", values: [value])])
        #expect(form.bool("flag") == expected)
    }

    @Test("an absent boolean is nil")
    func absentBoolean() {
        #expect(DataForm(type: "submit").bool("flag") == nil)
    }

    @Test("a form without FORM_TYPE has none; type defaults to form; fields without var are skipped")
    func parsingEdges() throws {
        let element = xml("""
            <x xmlns='jabber:x:data'><field type='fixed'><value>note</value></field><field var='a'><value>1</value></field></x>
            """)
        let form = try #require(DataForm(element: element))
        #expect(form.formType == nil)
        #expect(form.type == "form")
        #expect(form.fields.map(\.name) == ["a"])
    }

    @Test("other elements are not forms; a form is found inside its parent")
    func notAForm() throws {
        #expect(DataForm(element: xml("<x xmlns='http://jabber.org/protocol/muc#user'/>")) == nil)
        #expect(DataForm(element: xml("<form xmlns='jabber:x:data'/>")) == nil)
        let query = xml("<query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='cancel'/></query>")
        #expect(DataForm(in: query)?.type == "cancel")
        #expect(DataForm(in: xml("<query xmlns='http://jabber.org/protocol/muc#owner'/>")) == nil)
    }
}
