#ifndef STARLING_CICU_SHIM_H
#define STARLING_CICU_SHIM_H

#include <stdint.h>

/// Thin wrappers over the system ICU so Swift can call it without depending on ICU's
/// versioned symbol names (u_charType_72 and friends). All strings are UTF-16.

enum {
    STARLING_NORMALIZE_NFC = 0,
    STARLING_NORMALIZE_NFKC = 1,
};

enum {
    STARLING_SCRIPT_OTHER = 0,
    STARLING_SCRIPT_GREEK = 1,
    STARLING_SCRIPT_HEBREW = 2,
    STARLING_SCRIPT_HIRAGANA = 3,
    STARLING_SCRIPT_KATAKANA = 4,
    STARLING_SCRIPT_HAN = 5,
};

/// ICU general category (UCharCategory) of a code point.
int32_t starling_char_type(int32_t codePoint);
int32_t starling_is_default_ignorable(int32_t codePoint);
int32_t starling_is_noncharacter(int32_t codePoint);
int32_t starling_is_join_control(int32_t codePoint);
/// Hangul_Syllable_Type: 0 none, 1 L, 2 V, 3 T, 4 LV, 5 LVT.
int32_t starling_hangul_syllable_type(int32_t codePoint);
/// UCharDirection value (0 = L, 1 = R, 13 = AL, 5 = AN ...).
int32_t starling_char_direction(int32_t codePoint);
int32_t starling_combining_class(int32_t codePoint);
/// UJoiningType: 0 U, 1 C, 2 D, 3 L, 4 R, 5 T.
int32_t starling_joining_type(int32_t codePoint);
int32_t starling_script(int32_t codePoint);
/// 1 when the code point has a <wide> or <narrow> decomposition (PRECIS width mapping).
int32_t starling_has_width_decomposition(int32_t codePoint);
/// Unicode version of the ICU data, as major * 100 + minor.
int32_t starling_unicode_version(void);

/// Each of these writes into `dest` and returns the length written, or -1 on error
/// (including a too small destination: the caller retries with the returned `*needed`).
int32_t starling_normalize(int32_t form, const uint16_t *src, int32_t length, uint16_t *dest, int32_t capacity, int32_t *needed);
int32_t starling_to_lower(const uint16_t *src, int32_t length, uint16_t *dest, int32_t capacity, int32_t *needed);
/// UTS #46 non-transitional processing to Unicode; `*idnaErrors` receives the UIDNA_ERROR_* bits.
int32_t starling_idna_to_unicode(const uint16_t *src, int32_t length, uint16_t *dest, int32_t capacity, int32_t *needed, uint32_t *idnaErrors);
/// UTS #46 processing to ASCII (A-labels), for length checks and DNS.
int32_t starling_idna_to_ascii(const uint16_t *src, int32_t length, uint16_t *dest, int32_t capacity, int32_t *needed, uint32_t *idnaErrors);
/// RFC 3920 nodeprep (stringprep) of a localpart.
int32_t starling_nodeprep(const uint16_t *src, int32_t length, uint16_t *dest, int32_t capacity, int32_t *needed);
/// UTS #39 confusable skeleton.
int32_t starling_confusable_skeleton(const uint16_t *src, int32_t length, uint16_t *dest, int32_t capacity, int32_t *needed);

#endif
