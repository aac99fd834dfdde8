import CICUShim

/// The PRECIS framework (RFC 8264) and the two profiles RFC 7622 uses for addresses:
/// UsernameCaseMapped for localparts and OpaqueString for resourceparts (RFC 8265).
///
/// Character properties, normalisation and case mapping come from the system ICU, so the
/// Unicode version follows the operating system's rather than a table kept by hand.
public enum PRECIS {
    public enum Failure: Error, Sendable, Hashable {
        case empty
        case disallowedCharacter(Unicode.Scalar)
        case contextRuleFailed(Unicode.Scalar)
        case bidiRuleFailed
        case unicodeLibraryFailure
    }

    /// RFC 8265 §3.4: width mapping, lower case, NFC, the Bidi Rule, IdentifierClass.
    public static func usernameCaseMapped(_ input: String) throws(Failure) -> String {
        if let ascii = self.asciiUsername(input) {
            return ascii
        }
        var mapped = String.UnicodeScalarView()
        for scalar in input.unicodeScalars {
            if ICU.hasWidthDecomposition(scalar), let decomposed = ICU.normalize(String(scalar), .nfkc) {
                mapped.append(contentsOf: decomposed.unicodeScalars)
            } else {
                mapped.append(scalar)
            }
        }
        guard let lowered = ICU.lowercased(String(mapped)), let normalized = ICU.normalize(lowered, .nfc) else {
            throw .unicodeLibraryFailure
        }
        guard !normalized.isEmpty else { throw .empty }
        try self.checkBidiRule(normalized)
        try self.checkClass(normalized, .identifier)
        return normalized
    }

    /// RFC 8265 §4.2: non-ASCII spaces to U+0020, NFC, FreeformClass.
    public static func opaqueString(_ input: String) throws(Failure) -> String {
        if let ascii = self.asciiOpaque(input) {
            return ascii
        }
        var mapped = String.UnicodeScalarView()
        for scalar in input.unicodeScalars {
            mapped.append(ICU.generalCategory(scalar) == Category.spaceSeparator ? " " : scalar)
        }
        guard let normalized = ICU.normalize(String(mapped), .nfc) else { throw .unicodeLibraryFailure }
        guard !normalized.isEmpty else { throw .empty }
        try self.checkClass(normalized, .freeform)
        return normalized
    }

    // MARK: - ASCII fast paths (same results as the full algorithm for ASCII input)

    private static func asciiUsername(_ input: String) -> String? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(input.utf8.count)
        for byte in input.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): bytes.append(byte + 32)
            case 0x21...0x7E: bytes.append(byte)
            default: return nil
            }
        }
        return bytes.isEmpty ? nil : String(decoding: bytes, as: UTF8.self)
    }

    private static func asciiOpaque(_ input: String) -> String? {
        guard !input.isEmpty, input.utf8.allSatisfy({ $0 >= 0x20 && $0 <= 0x7E }) else { return nil }
        return input
    }

    // MARK: - Derived property (RFC 8264 §8)

    enum StringClass {
        case identifier, freeform
    }

    enum Property: Equatable {
        case pvalid, contextJ, contextO, disallowed, unassigned
    }

    /// ICU UCharCategory values.
    enum Category {
        static let unassigned: Int32 = 0
        static let uppercaseLetter: Int32 = 1
        static let lowercaseLetter: Int32 = 2
        static let titlecaseLetter: Int32 = 3
        static let modifierLetter: Int32 = 4
        static let otherLetter: Int32 = 5
        static let nonSpacingMark: Int32 = 6
        static let enclosingMark: Int32 = 7
        static let combiningSpacingMark: Int32 = 8
        static let decimalDigit: Int32 = 9
        static let letterNumber: Int32 = 10
        static let otherNumber: Int32 = 11
        static let spaceSeparator: Int32 = 12
        static let control: Int32 = 15
        static let dashPunctuation: Int32 = 19
        static let startPunctuation: Int32 = 20
        static let endPunctuation: Int32 = 21
        static let connectorPunctuation: Int32 = 22
        static let otherPunctuation: Int32 = 23
        static let mathSymbol: Int32 = 24
        static let currencySymbol: Int32 = 25
        static let modifierSymbol: Int32 = 26
        static let otherSymbol: Int32 = 27
        static let initialPunctuation: Int32 = 28
        static let finalPunctuation: Int32 = 29
    }

    static func property(of scalar: Unicode.Scalar, in stringClass: StringClass) -> Property {
        let value = scalar.value
        // Exceptions (RFC 5892 §2.6).
        switch value {
        case 0x00DF, 0x03C2, 0x06FD, 0x06FE, 0x0F0B, 0x3007: return .pvalid
        case 0x00B7, 0x0375, 0x05F3, 0x05F4, 0x30FB, 0x0660...0x0669, 0x06F0...0x06F9: return .contextO
        case 0x0640, 0x07FA, 0x302E, 0x302F, 0x3031...0x3035, 0x303B: return .disallowed
        default: break
        }
        let category = ICU.generalCategory(scalar)
        if category == Category.unassigned && !ICU.isNoncharacter(scalar) { return .unassigned }
        if value >= 0x21 && value <= 0x7E { return .pvalid }
        if ICU.isJoinControl(scalar) { return .contextJ }
        if (1...3).contains(ICU.hangulSyllableType(scalar)) { return .disallowed }
        if ICU.isDefaultIgnorable(scalar) || ICU.isNoncharacter(scalar) { return .disallowed }
        if category == Category.control { return .disallowed }
        let freeformOnly: Property = stringClass == .freeform ? .pvalid : .disallowed
        if let compatibility = ICU.normalize(String(scalar), .nfkc), compatibility.unicodeScalars.elementsEqual([scalar]) == false {
            return freeformOnly
        }
        switch category {
        case Category.lowercaseLetter, Category.uppercaseLetter, Category.otherLetter, Category.decimalDigit,
            Category.modifierLetter, Category.nonSpacingMark, Category.combiningSpacingMark:
            return .pvalid
        case Category.titlecaseLetter, Category.letterNumber, Category.otherNumber, Category.enclosingMark,
            Category.spaceSeparator, Category.mathSymbol, Category.currencySymbol, Category.modifierSymbol,
            Category.otherSymbol, Category.connectorPunctuation, Category.dashPunctuation, Category.startPunctuation,
            Category.endPunctuation, Category.initialPunctuation, Category.finalPunctuation, Category.otherPunctuation:
            return freeformOnly
        default:
            return .disallowed
        }
    }

    private static func checkClass(_ string: String, _ stringClass: StringClass) throws(Failure) {
        let scalars = Array(string.unicodeScalars)
        for (index, scalar) in scalars.enumerated() {
            switch self.property(of: scalar, in: stringClass) {
            case .pvalid:
                continue
            case .contextJ:
                guard self.contextJAllows(scalars, at: index) else { throw .contextRuleFailed(scalar) }
            case .contextO:
                guard self.contextOAllows(scalars, at: index) else { throw .contextRuleFailed(scalar) }
            case .disallowed, .unassigned:
                throw .disallowedCharacter(scalar)
            }
        }
    }

    // MARK: - Context rules (RFC 5892 Appendix A)

    private static let virama: Int32 = 9

    private static func contextJAllows(_ scalars: [Unicode.Scalar], at index: Int) -> Bool {
        if index > 0 && ICU.combiningClass(scalars[index - 1]) == self.virama { return true }
        guard scalars[index].value == 0x200C else { return false }
        // ZWNJ: (Joining_Type:{L,D})(Joining_Type:T)* ZWNJ (Joining_Type:T)*(Joining_Type:{R,D})
        let transparent: Int32 = 5, dual: Int32 = 2, left: Int32 = 3, right: Int32 = 4
        var before = index - 1
        while before >= 0 && ICU.joiningType(scalars[before]) == transparent { before -= 1 }
        guard before >= 0, [left, dual].contains(ICU.joiningType(scalars[before])) else { return false }
        var after = index + 1
        while after < scalars.count && ICU.joiningType(scalars[after]) == transparent { after += 1 }
        return after < scalars.count && [right, dual].contains(ICU.joiningType(scalars[after]))
    }

    private static func contextOAllows(_ scalars: [Unicode.Scalar], at index: Int) -> Bool {
        let value = scalars[index].value
        switch value {
        case 0x00B7:
            return index > 0 && index + 1 < scalars.count && scalars[index - 1] == "l" && scalars[index + 1] == "l"
        case 0x0375:
            return index + 1 < scalars.count && ICU.script(scalars[index + 1]) == Int32(STARLING_SCRIPT_GREEK)
        case 0x05F3, 0x05F4:
            return index > 0 && ICU.script(scalars[index - 1]) == Int32(STARLING_SCRIPT_HEBREW)
        case 0x30FB:
            return scalars.contains { scalar in
                let script = ICU.script(scalar)
                return script == Int32(STARLING_SCRIPT_HIRAGANA) || script == Int32(STARLING_SCRIPT_KATAKANA)
                    || script == Int32(STARLING_SCRIPT_HAN)
            }
        case 0x0660...0x0669:
            return !scalars.contains { (0x06F0...0x06F9).contains($0.value) }
        case 0x06F0...0x06F9:
            return !scalars.contains { (0x0660...0x0669).contains($0.value) }
        default:
            return false
        }
    }

    // MARK: - Bidi Rule (RFC 5893 §2)

    private enum Bidi {
        static let l: Int32 = 0, r: Int32 = 1, en: Int32 = 2, es: Int32 = 3, et: Int32 = 4, an: Int32 = 5
        static let cs: Int32 = 6, on: Int32 = 10, al: Int32 = 13, nsm: Int32 = 17, bn: Int32 = 18
    }

    private static func checkBidiRule(_ string: String) throws(Failure) {
        let classes = string.unicodeScalars.map(ICU.bidiClass)
        guard classes.contains(where: { $0 == Bidi.r || $0 == Bidi.al || $0 == Bidi.an }), let first = classes.first else {
            return
        }
        var trailing = classes[...]
        while let last = trailing.last, last == Bidi.nsm { trailing = trailing.dropLast() }
        guard let last = trailing.last else { throw .bidiRuleFailed }
        if first == Bidi.r || first == Bidi.al {
            let allowed: Set<Int32> = [Bidi.r, Bidi.al, Bidi.an, Bidi.en, Bidi.es, Bidi.cs, Bidi.et, Bidi.on, Bidi.bn, Bidi.nsm]
            guard classes.allSatisfy(allowed.contains),
                [Bidi.r, Bidi.al, Bidi.en, Bidi.an].contains(last),
                !(classes.contains(Bidi.en) && classes.contains(Bidi.an))
            else { throw .bidiRuleFailed }
        } else if first == Bidi.l {
            let allowed: Set<Int32> = [Bidi.l, Bidi.en, Bidi.es, Bidi.cs, Bidi.et, Bidi.on, Bidi.bn, Bidi.nsm]
            guard classes.allSatisfy(allowed.contains), last == Bidi.l || last == Bidi.en else { throw .bidiRuleFailed }
        } else {
            throw .bidiRuleFailed
        }
    }
}

