# Writes OUT: one MQ_PROTO_MESSAGE(descriptor) line per message descriptor
# declared in the generated headers HEADERS (a |-separated list). Used by tests that
# must cover every message in proto/ without a hand-kept list.
string(REPLACE "|" ";" HEADERS "${HEADERS}")
set(lines "")
foreach(h ${HEADERS})
  file(STRINGS ${h} decls REGEX "^extern const ProtobufCMessageDescriptor [a-z0-9_]+;")
  foreach(d ${decls})
    string(REGEX REPLACE "^extern const ProtobufCMessageDescriptor ([a-z0-9_]+);.*" "\\1" name "${d}")
    string(APPEND lines "MQ_PROTO_MESSAGE(${name})\n")
  endforeach()
endforeach()
file(WRITE ${OUT}.tmp "${lines}")
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
