# embed.cmake - turns console/index.html into a C array at build time:
#   cmake -DIN=index.html -DOUT=console_page.c -P embed.cmake
file(READ "${IN}" hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
file(WRITE "${OUT}" "/* generated from console/index.html by console/embed.cmake */\n"
     "const unsigned char console_page[] = {${bytes}0};\n"
     "const unsigned long console_page_len = sizeof(console_page) - 1;\n")
