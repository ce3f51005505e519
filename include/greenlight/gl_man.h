/* gl_man: writes man pages (groff, the man(7) macros) from the same tables
 * and texts that --help prints, so that `greenlight-<daemon> --help-man`
 * and `greenlight --help-man` are the build's man pages and cannot drift
 * from --help. Plain text is escaped here: a backslash, a line that starts
 * with '.' or '\'', and '-' (written \-, so that options copy and paste as
 * ASCII hyphens), and a break point goes after each comma (a list of
 * topics is one long word otherwise).
 *
 * Pure writers over a FILE; any thread (each call writes to out only). */
#ifndef GREENLIGHT_GL_MAN_H
#define GREENLIGHT_GL_MAN_H

#include <stdio.h>

/* .TH and the NAME section: "name \- summary". */
void gl_man_begin(FILE *out, const char *name, const char *summary);
/* A section heading (.SH) or a subsection heading (.SS). */
void gl_man_section(FILE *out, const char *title);
void gl_man_subsection(FILE *out, const char *title);
/* A paragraph of running text (filled by the formatter). */
void gl_man_para(FILE *out, const char *text);
/* A tagged paragraph (.TP): tag on its own line, text indented below. */
void gl_man_item(FILE *out, const char *tag, const char *text);
/* Text kept as it is, line by line (.nf/.fi), e.g. a --help text. */
void gl_man_verbatim(FILE *out, const char *text);

#endif
