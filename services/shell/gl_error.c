/* gl_error: names and exit codes of the GL_E* codes (include/greenlight/gl_error.h). */
#include "greenlight/gl_error.h"

const char *gl_strerror(int err) {
  switch (err) {
    case GL_OK: return "success";
    case GL_ECONFIG: return "bad setting";
    case GL_EIO: return "operating system error";
    case GL_EBROKER: return "broker unavailable";
    case GL_EFATAL: return "fatal client error";
    case GL_ESTATE: return "not allowed in this state";
    case GL_ENOMEM: return "out of memory";
    case GL_ESTOPPED: return "stopped";
    case GL_EINVAL: return "invalid input";
    default: return "unknown error";
  }
}

int gl_exit_code(int err) {
  if (err == GL_OK || err == GL_ESTOPPED) return GL_EXIT_OK;
  return err == GL_ECONFIG ? GL_EXIT_CONFIG : GL_EXIT_FAILURE;
}
