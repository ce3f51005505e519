/* gl_man: man pages from --help's tables. See include/greenlight/gl_man.h. */
#include "greenlight/gl_man.h"

#include <string.h>

#include "greenlight/gl_version.h"

/* Writes text escaped for groff; at_line_start says whether out is at the
 * start of an input line. Returns whether it is after the text. */
static int gl_man_escaped(FILE *out, const char *text, int at_line_start) {
  for (const char *p = text; *p; p++) {
    if (at_line_start && (*p == '.' || *p == '\'')) fputs("\\&", out);
    if (*p == '\\')
      fputs("\\e", out);
    else if (*p == '-')
      fputs("\\-", out);
    else if (*p == ',')
      fputs(",\\:", out); /* A comma list (a default's topics) may break after each comma. */
    else
      fputc(*p, out);
    at_line_start = *p == '\n';
  }
  return at_line_start;
}

void gl_man_begin(FILE *out, const char *name, const char *summary) {
  fprintf(out, ".TH \"");
  for (const char *p = name; *p; p++) fputc(*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p, out);
  fprintf(out, "\" 1 \"\" \"greenlight %s\" \"greenlight manual\"\n", gl_version_string());
  /* Left-aligned, no hyphenation: setting names and topic lists are long
   * words that justification could only stretch around (troff warns). */
  fputs(".ad l\n.nh\n", out);
  gl_man_section(out, "NAME");
  gl_man_escaped(out, name, 1);
  fputs(" \\- ", out);
  gl_man_escaped(out, summary ? summary : "a greenlight program", 0);
  fputc('\n', out);
}

void gl_man_section(FILE *out, const char *title) {
  fputs(".SH \"", out);
  gl_man_escaped(out, title, 0);
  fputs("\"\n", out);
}

void gl_man_subsection(FILE *out, const char *title) {
  fputs(".SS \"", out);
  gl_man_escaped(out, title, 0);
  fputs("\"\n", out);
}

void gl_man_para(FILE *out, const char *text) {
  fputs(".PP\n", out);
  if (!gl_man_escaped(out, text, 1)) fputc('\n', out);
}

void gl_man_item(FILE *out, const char *tag, const char *text) {
  fputs(".TP\n", out);
  if (!gl_man_escaped(out, tag, 1)) fputc('\n', out);
  if (!gl_man_escaped(out, text, 1)) fputc('\n', out);
}

void gl_man_verbatim(FILE *out, const char *text) {
  fputs(".PP\n.nf\n", out);
  /* An empty line in .nf is a blank line, which man(7) warns about in
   * some checkers: .sp says the same thing. */
  const char *p = text;
  while (*p) {
    const char *nl = strchr(p, '\n');
    size_t n = nl ? (size_t)(nl - p) : strlen(p);
    if (n == 0) {
      fputs(".sp\n", out);
    } else {
      char line[1024];
      for (size_t off = 0; off < n;) { /* Long lines in pieces; none is that long. */
        size_t k = n - off < sizeof line - 1 ? n - off : sizeof line - 1;
        memcpy(line, p + off, k);
        line[k] = '\0';
        gl_man_escaped(out, line, off == 0);
        off += k;
      }
      fputc('\n', out);
    }
    p += n + (nl ? 1 : 0);
  }
  fputs(".fi\n", out);
}
