# Generated at build time from each executable's own tables, so that they
# say what --help says: a man page per executable (--help-man: groff) in
# <build>/man, and the CLI's bash completion (greenlight completion bash) in
# <build>/completion. Installed to share/man/man1 and to
# share/bash-completion/completions. tests/cli/test_cli_docs.py renders
# each page with man and loads the completion in bash.
set(GL_MAN_DIR ${CMAKE_BINARY_DIR}/man)
set(GL_COMPLETION_DIR ${CMAKE_BINARY_DIR}/completion)
file(MAKE_DIRECTORY ${GL_MAN_DIR} ${GL_COMPLETION_DIR})
set(GL_DOCS)
function(gl_generate target out)
  add_custom_command(OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -DEXE=$<TARGET_FILE:${target}> "-DARGS=${ARGN}" -DOUT=${out}
      -P ${CMAKE_CURRENT_SOURCE_DIR}/capture_output.cmake VERBATIM
    DEPENDS ${target} ${CMAKE_CURRENT_SOURCE_DIR}/capture_output.cmake
    COMMENT "Generating ${out}")
  set(GL_DOCS ${GL_DOCS} ${out} PARENT_SCOPE)
endfunction()
gl_generate(greenlight-cli ${GL_MAN_DIR}/greenlight.1 --help-man)
foreach(d orderd batchd clockd pipe)
  gl_generate(greenlight-${d} ${GL_MAN_DIR}/greenlight-${d}.1 --help-man)
endforeach()
gl_generate(greenlight-cli ${GL_COMPLETION_DIR}/greenlight completion bash)
add_custom_target(greenlight-docs ALL DEPENDS ${GL_DOCS})
install(FILES ${GL_MAN_DIR}/greenlight.1 ${GL_MAN_DIR}/greenlight-orderd.1
  ${GL_MAN_DIR}/greenlight-batchd.1 ${GL_MAN_DIR}/greenlight-clockd.1
  DESTINATION share/man/man1)
install(FILES ${GL_COMPLETION_DIR}/greenlight DESTINATION share/bash-completion/completions)
