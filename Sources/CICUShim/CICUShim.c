#include "CICUShim.h"

#include <pthread.h>
#include <unicode/uchar.h>
#include <unicode/uidna.h>
#include <unicode/unorm2.h>
#include <unicode/uscript.h>
#include <unicode/uspoof.h>
#include <unicode/usprep.h>
#include <unicode/ustring.h>
#include <unicode/uversion.h>

int32_t starling_char_type(int32_t c) { return (int32_t)u_charType(c); }
int32_t starling_is_default_ignorable(int32_t c) { return u_hasBinaryProperty(c, UCHAR_DEFAULT_IGNORABLE_CODE_POINT) ? 1 : 0; }
int32_t starling_is_noncharacter(int32_t c) { return u_hasBinaryProperty(c, UCHAR_NONCHARACTER_CODE_POINT) ? 1 : 0; }
int32_t starling_is_join_control(int32_t c) { return u_hasBinaryProperty(c, UCHAR_JOIN_CONTROL) ? 1 : 0; }
int32_t starling_hangul_syllable_type(int32_t c) { return u_getIntPropertyValue(c, UCHAR_HANGUL_SYLLABLE_TYPE); }
int32_t starling_char_direction(int32_t c) { return (int32_t)u_charDirection(c); }
int32_t starling_combining_class(int32_t c) { return (int32_t)u_getCombiningClass(c); }
int32_t starling_joining_type(int32_t c) { return u_getIntPropertyValue(c, UCHAR_JOINING_TYPE); }

int32_t starling_has_width_decomposition(int32_t c) {
    int32_t type = u_getIntPropertyValue(c, UCHAR_DECOMPOSITION_TYPE);
    return (type == U_DT_WIDE || type == U_DT_NARROW) ? 1 : 0;
}

int32_t starling_script(int32_t c) {
    UErrorCode status = U_ZERO_ERROR;
    UScriptCode script = uscript_getScript(c, &status);
    if (U_FAILURE(status)) return STARLING_SCRIPT_OTHER;
    switch (script) {
    case USCRIPT_GREEK: return STARLING_SCRIPT_GREEK;
    case USCRIPT_HEBREW: return STARLING_SCRIPT_HEBREW;
    case USCRIPT_HIRAGANA: return STARLING_SCRIPT_HIRAGANA;
    case USCRIPT_KATAKANA: return STARLING_SCRIPT_KATAKANA;
    case USCRIPT_HAN: return STARLING_SCRIPT_HAN;
    default: return STARLING_SCRIPT_OTHER;
    }
}

int32_t starling_unicode_version(void) {
    UVersionInfo version;
    u_getUnicodeVersion(version);
    return version[0] * 100 + version[1];
}

static int32_t finish(UErrorCode status, int32_t length, int32_t *needed) {
    *needed = length;
    if (status == U_BUFFER_OVERFLOW_ERROR || status == U_STRING_NOT_TERMINATED_WARNING) {
        return status == U_BUFFER_OVERFLOW_ERROR ? -1 : length;
    }
    if (U_FAILURE(status)) {
        *needed = 0;
        return -1;
    }
    return length;
}

int32_t starling_normalize(int32_t form, const uint16_t *src, int32_t length, uint16_t *dest, int32_t capacity, int32_t *needed) {
    UErrorCode status = U_ZERO_ERROR;
    const UNormalizer2 *normalizer = form == STARLING_NORMALIZE_NFKC ? unorm2_getNFKCInstance(&status) : unorm2_getNFCInstance(&status);
    if (U_FAILURE(status)) { *needed = 0; return -1; }
    int32_t written = unorm2_normalize(normalizer, (const UChar *)src, length, (UChar *)dest, capacity, &status);
    return finish(status, written, needed);
}

int32_t starling_to_lower(const uint16_t *src, int32_t length, uint16_t *dest, int32_t capacity, int32_t *needed) {
    UErrorCode status = U_ZERO_ERROR;
    int32_t written = u_strToLower((UChar *)dest, capacity, (const UChar *)src, length, "", &status);
    return finish(status, written, needed);
}

static UIDNA *shared_idna = NULL;
static pthread_once_t idna_once = PTHREAD_ONCE_INIT;

static void open_idna(void) {
    UErrorCode status = U_ZERO_ERROR;
    uint32_t options = UIDNA_USE_STD3_RULES | UIDNA_CHECK_BIDI | UIDNA_CHECK_CONTEXTJ | UIDNA_CHECK_CONTEXTO
        | UIDNA_NONTRANSITIONAL_TO_ASCII | UIDNA_NONTRANSITIONAL_TO_UNICODE;
    shared_idna = uidna_openUTS46(options, &status);
    if (U_FAILURE(status)) shared_idna = NULL;
}

static int32_t idna_convert(int toAscii, const uint16_t *src, int32_t length, uint16_t *dest, int32_t capacity, int32_t *needed, uint32_t *idnaErrors) {
    pthread_once(&idna_once, open_idna);
    if (shared_idna == NULL) { *needed = 0; *idnaErrors = 0xFFFFFFFF; return -1; }
    UErrorCode status = U_ZERO_ERROR;
    UIDNAInfo info = UIDNA_INFO_INITIALIZER;
    int32_t written = toAscii
        ? uidna_nameToASCII(shared_idna, (const UChar *)src, length, (UChar *)dest, capacity, &info, &status)
        : uidna_nameToUnicode(shared_idna, (const UChar *)src, length, (UChar *)dest, capacity, &info, &status);
    *idnaErrors = info.errors;
    return finish(status, written, needed);
}

int32_t starling_idna_to_unicode(const uint16_t *src, int32_t length, uint16_t *dest, int32_t capacity, int32_t *needed, uint32_t *idnaErrors) {
    return idna_convert(0, src, length, dest, capacity, needed, idnaErrors);
}

int32_t starling_idna_to_ascii(const uint16_t *src, int32_t length, uint16_t *dest, int32_t capacity, int32_t *needed, uint32_t *idnaErrors) {
    return idna_convert(1, src, length, dest, capacity, needed, idnaErrors);
}

int32_t starling_nodeprep(const uint16_t *src, int32_t length, uint16_t *dest, int32_t capacity, int32_t *needed) {
    UErrorCode status = U_ZERO_ERROR;
    UStringPrepProfile *profile = usprep_openByType(USPREP_RFC3920_NODEPREP, &status);
    if (U_FAILURE(status)) { *needed = 0; return -1; }
    int32_t written = usprep_prepare(profile, (const UChar *)src, length, (UChar *)dest, capacity, USPREP_DEFAULT, NULL, &status);
    usprep_close(profile);
    return finish(status, written, needed);
}

int32_t starling_confusable_skeleton(const uint16_t *src, int32_t length, uint16_t *dest, int32_t capacity, int32_t *needed) {
    UErrorCode status = U_ZERO_ERROR;
    USpoofChecker *checker = uspoof_open(&status);
    if (U_FAILURE(status)) { *needed = 0; return -1; }
    int32_t written = uspoof_getSkeleton(checker, 0, (const UChar *)src, length, (UChar *)dest, capacity, &status);
    uspoof_close(checker);
    return finish(status, written, needed);
}
