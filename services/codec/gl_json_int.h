/* Internal to the JSON converter (gl_json.c, gl_json_parse.c). */
#ifndef GL_JSON_INT_H
#define GL_JSON_INT_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

/* Decodes n characters of standard base64 (padding optional) into a
 * malloc'd buffer. Returns 0, or -1 if s is not base64. */
int gl_json_b64_decode(const char *s, size_t n, uint8_t **out, size_t *out_len);
/* Size of one element of a field's type, as laid out in a repeated array. */
size_t gl_json_elem_size(ProtobufCType t);

#endif
