import CICUShim

/// Swift entry points to the system ICU, through the C shim.
enum ICU {
    enum NormalizationForm {
        case nfc, nfkc
    }

    static func normalize(_ string: String, _ form: NormalizationForm) -> String? {
        let code: Int32 = form == .nfc ? Int32(STARLING_NORMALIZE_NFC) : Int32(STARLING_NORMALIZE_NFKC)
        return self.transform(string) { starling_normalize(code, $0, $1, $2, $3, $4) }
    }

    static func lowercased(_ string: String) -> String? {
        self.transform(string) { starling_to_lower($0, $1, $2, $3, $4) }
    }

    static func nodeprep(_ string: String) -> String? {
        self.transform(string) { starling_nodeprep($0, $1, $2, $3, $4) }
    }

    static func confusableSkeleton(_ string: String) -> String? {
        self.transform(string) { starling_confusable_skeleton($0, $1, $2, $3, $4) }
    }

    /// UTS #46 to Unicode; nil when ICU reports any IDNA error.
    static func idnaToUnicode(_ string: String) -> String? {
        var errors: UInt32 = 0
        let result = self.transform(string) { starling_idna_to_unicode($0, $1, $2, $3, $4, &errors) }
        return errors == 0 ? result : nil
    }

    static func idnaToASCII(_ string: String) -> String? {
        var errors: UInt32 = 0
        let result = self.transform(string) { starling_idna_to_ascii($0, $1, $2, $3, $4, &errors) }
        return errors == 0 ? result : nil
    }

    private static func transform(
        _ string: String,
        _ body: (UnsafePointer<UInt16>, Int32, UnsafeMutablePointer<UInt16>, Int32, UnsafeMutablePointer<Int32>) -> Int32
    ) -> String? {
        let source = Array(string.utf16)
        guard !source.isEmpty else { return "" }
        guard source.count < Int32.max / 4 else { return nil }
        var capacity = source.count * 2 + 16
        for _ in 0..<2 {
            var needed: Int32 = 0
            var destination = [UInt16](repeating: 0, count: capacity)
            let written = source.withUnsafeBufferPointer { sourceBuffer -> Int32 in
                destination.withUnsafeMutableBufferPointer { destinationBuffer -> Int32 in
                    guard let sourceBase = sourceBuffer.baseAddress, let destinationBase = destinationBuffer.baseAddress else {
                        return -1
                    }
                    return body(sourceBase, Int32(sourceBuffer.count), destinationBase, Int32(destinationBuffer.count), &needed)
                }
            }
            if written >= 0 {
                return String(decoding: destination[0..<Int(written)], as: UTF16.self)
            }
            guard needed > Int32(capacity) else { return nil }
            capacity = Int(needed) + 1
        }
        return nil
    }

    // MARK: - Character properties

    static func generalCategory(_ scalar: Unicode.Scalar) -> Int32 { starling_char_type(Int32(bitPattern: scalar.value)) }
    static func isDefaultIgnorable(_ scalar: Unicode.Scalar) -> Bool { starling_is_default_ignorable(Int32(bitPattern: scalar.value)) != 0 }
    static func isNoncharacter(_ scalar: Unicode.Scalar) -> Bool { starling_is_noncharacter(Int32(bitPattern: scalar.value)) != 0 }
    static func isJoinControl(_ scalar: Unicode.Scalar) -> Bool { starling_is_join_control(Int32(bitPattern: scalar.value)) != 0 }
    static func hangulSyllableType(_ scalar: Unicode.Scalar) -> Int32 { starling_hangul_syllable_type(Int32(bitPattern: scalar.value)) }
    static func bidiClass(_ scalar: Unicode.Scalar) -> Int32 { starling_char_direction(Int32(bitPattern: scalar.value)) }
    static func combiningClass(_ scalar: Unicode.Scalar) -> Int32 { starling_combining_class(Int32(bitPattern: scalar.value)) }
    static func joiningType(_ scalar: Unicode.Scalar) -> Int32 { starling_joining_type(Int32(bitPattern: scalar.value)) }
    static func script(_ scalar: Unicode.Scalar) -> Int32 { starling_script(Int32(bitPattern: scalar.value)) }
    static func hasWidthDecomposition(_ scalar: Unicode.Scalar) -> Bool { starling_has_width_decomposition(Int32(bitPattern: scalar.value)) != 0 }
}
