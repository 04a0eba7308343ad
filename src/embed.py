"""Write a C header that defines a file's bytes as a string constant:
embed.py INPUT OUTPUT NAME. Used by meson to build the dashboard page into
the binary, so it needs no file at run time."""

import sys


def main():
    src, dst, name = sys.argv[1:4]
    data = open(src, "rb").read()
    lines = []
    for i in range(0, len(data), 16):
        chunk = data[i:i + 16]
        lines.append('    "' + "".join(f"\\x{b:02x}" for b in chunk) + '"')
    with open(dst, "w") as out:
        out.write(f"/* Generated from {src.rsplit('/', 1)[-1]} by embed.py; "
                  "do not edit. */\n")
        out.write(f"static const char {name}[] =\n")
        out.write("\n".join(lines) if lines else '    ""')
        out.write(";\n")


if __name__ == "__main__":
    main()
