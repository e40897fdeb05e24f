# Runs PROG with --config-file=CONF (if set) and ARGS; checks the exit code
# is EXPECT_RC and that stderr or stdout mentions EXPECT_TEXT.
set(cmd ${PROG})
if(CONF)
  list(APPEND cmd --config-file=${CONF})
endif()
if(ARGS)
  separate_arguments(extra UNIX_COMMAND "${ARGS}")
  list(APPEND cmd ${extra})
endif()
# Without HTTP endpoints unless ARGS set a port: tests must not compete for
# the default one.
string(FIND "${ARGS}" "--flow.http-port" http_pos)
if(http_pos EQUAL -1)
  list(APPEND cmd --flow.http-port=0)
endif()
execute_process(COMMAND ${cmd} RESULT_VARIABLE rc OUTPUT_VARIABLE out
                ERROR_VARIABLE err TIMEOUT 60)
if(NOT rc EQUAL EXPECT_RC)
  message(FATAL_ERROR "expected exit ${EXPECT_RC}, got ${rc}\nstderr: ${err}")
endif()
if(EXPECT_TEXT)
  string(FIND "${err}${out}" "${EXPECT_TEXT}" pos)
  if(pos EQUAL -1)
    message(FATAL_ERROR "output does not mention '${EXPECT_TEXT}':\n${err}${out}")
  endif()
endif()
message(STATUS "exit ${rc} as expected: ${err}")
