// The Unicode character classes that byte-level BPE pre-tokenizer regexes
// distinguish: \p{L} (letters), \p{N} (numbers), \s (White_Space) and
// everything else. The table behind it is generated from Unicode 16.0 by
// gen_unicode_class_table.py.
#ifndef COMMVQ_MODEL_TOKENIZER_UNICODE_CLASS_H_
#define COMMVQ_MODEL_TOKENIZER_UNICODE_CLASS_H_

#include <cstdint>

namespace commvq {

enum class CharClass : uint8_t {
  kOther,       // [^\s\p{L}\p{N}]: punctuation, symbols, marks, controls...
  kLetter,      // \p{L}: general categories Lu, Ll, Lt, Lm, Lo.
  kNumber,      // \p{N}: general categories Nd, Nl, No.
  kWhitespace,  // \s: the White_Space property.
};

// The class of code point `cp`; code points above U+10FFFF, surrogates and
// unassigned code points are kOther.
CharClass ClassifyCodepoint(char32_t cp);

}  // namespace commvq

#endif  // COMMVQ_MODEL_TOKENIZER_UNICODE_CLASS_H_
