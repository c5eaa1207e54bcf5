#include <vmemu/trace/json_string.hpp>

namespace vmemu::trace {

void print_json_string(std::FILE* out, std::string_view text)
{
    std::fputc('"', out);
    for (char c : text) {
        auto byte = static_cast<unsigned char>(c);
        if (byte == '"' || byte == '\\')
            std::fprintf(out, "\\%c", byte);
        else if (byte < 0x20 || byte == '<' || byte >= 0x80)
            std::fprintf(out, "\\u%04x", byte);
        else
            std::fputc(byte, out);
    }
    std::fputc('"', out);
}

} // namespace vmemu::trace
