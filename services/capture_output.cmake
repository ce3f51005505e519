# Runs EXE with ARGS (a ;-list) and writes its standard output to OUT, failing
# the build if it exits non-zero: how the man pages and the completion script
# are generated from the executables' own tables (see docs.cmake).
execute_process(COMMAND ${EXE} ${ARGS} OUTPUT_FILE ${OUT}.tmp RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  file(REMOVE ${OUT}.tmp)
  message(FATAL_ERROR "${EXE} ${ARGS}: exit ${rc}")
endif()
file(RENAME ${OUT}.tmp ${OUT})
