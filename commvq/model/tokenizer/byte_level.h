// GPT-2's reversible byte <-> character mapping, in which byte-level BPE
// vocabularies spell their tokens: printable bytes stand for themselves and
// the others (controls, space, DEL, NBSP, soft hyphen...) for U+0100..U+0143
// in byte order, so that every token string is printable ("Ġ" is a space).
#ifndef COMMVQ_MODEL_TOKENIZER_BYTE_LEVEL_H_
#define COMMVQ_MODEL_TOKENIZER_BYTE_LEVEL_H_

#include <cstdint>

namespace commvq {

// The code point that byte `byte` is spelled as in token strings.
char32_t ByteToCodepoint(uint8_t byte);

// The byte that code point `cp` spells, or -1 if it spells none.
int CodepointToByte(char32_t cp);

}  // namespace commvq

#endif  // COMMVQ_MODEL_TOKENIZER_BYTE_LEVEL_H_
