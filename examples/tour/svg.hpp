#pragma once
// The tour's pictures: a small SVG writer (boxes, text, lines and arrows), and the colours the
// frame map of `vmemu report` gives the same things, so that a page looks the same everywhere.
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace vmemu::tour {

namespace colors {
inline constexpr const char* kFree = "#e2e2e2";
inline constexpr const char* kAnon = "#0072b2"; // anon_active in the frame map
inline constexpr const char* kAnonLight = "#56b4e9"; // anon_inactive
inline constexpr const char* kSwap = "#009e73"; // swap entries and the swap cache
inline constexpr const char* kZero = "#f0e442";
inline constexpr const char* kTable = "#cc79a7"; // page-table pages
inline constexpr const char* kLocked = "#222222";
inline constexpr const char* kHighlight = "#d55e00";
inline constexpr const char* kInk = "#333333";
} // namespace colors

// Elements are appended in drawing order; the size is given when the picture is written.
class Svg {
public:
    void rect(double x, double y, double width, double height, const char* fill, const char* stroke = nullptr,
        const char* extra = "")
    {
        format("<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"", x, y, width, height, fill);
        if (stroke)
            format(" stroke=\"%s\" stroke-width=\"1\"", stroke);
        format("%s%s/>\n", *extra ? " " : "", extra);
        grow(x + width, y + height);
    }
    // anchor: "start", "middle" or "end". style: extra attributes (font-weight, fill...).
    void text(double x, double y, const std::string& text, const char* anchor = "start", const char* style = "")
    {
        format("<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\"%s%s>", x, y, anchor, *style ? " " : "", style);
        for (char c : text) {
            switch (c) {
            case '&': m_body += "&amp;"; break;
            case '<': m_body += "&lt;"; break;
            case '>': m_body += "&gt;"; break;
            default: m_body += c;
            }
        }
        m_body += "</text>\n";
        // Text is about 7 pixels a character at 12 pixels, and grows rightwards from x.
        double width = 7.0 * static_cast<double>(text.size());
        grow(std::strcmp(anchor, "start") == 0 ? x + width : std::strcmp(anchor, "middle") == 0 ? x + width / 2 : x,
            y + 4);
    }
    void bold(double x, double y, const std::string& words) { text(x, y, words, "start", "font-weight=\"bold\""); }
    // The picture's first line.
    void heading(const std::string& words) { bold(0, 16, words); }
    void line(double x1, double y1, double x2, double y2, const char* stroke = colors::kInk, bool arrow = false,
        const char* extra = "")
    {
        format("<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"1.5\"%s%s%s/>\n", x1,
            y1, x2, y2, stroke, arrow ? " marker-end=\"url(#arrow)\"" : "", *extra ? " " : "", extra);
        grow(std::max(x1, x2), std::max(y1, y2));
    }
    void arrow(double x1, double y1, double x2, double y2, const char* stroke = colors::kInk, const char* extra = "")
    {
        line(x1, y1, x2, y2, stroke, true, extra);
    }

    // Writes the picture to path, with a margin around what was drawn; exits on failure.
    void write(const std::string& path) const
    {
        std::FILE* out = std::fopen(path.c_str(), "w");
        if (!out) {
            std::fprintf(stderr, "tour: cannot write %s: %s\n", path.c_str(), std::strerror(errno));
            std::exit(1);
        }
        int width = static_cast<int>(m_right) + 16;
        int height = static_cast<int>(m_bottom) + 16;
        std::fprintf(out,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
            "font-family=\"sans-serif\" font-size=\"12\">\n"
            "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"7\" "
            "markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"%s\"/></marker></defs>\n"
            "<rect width=\"100%%\" height=\"100%%\" fill=\"#ffffff\"/>\n",
            width, height, width, height, colors::kInk);
        std::fputs(m_body.c_str(), out);
        std::fputs("</svg>\n", out);
        if (std::fclose(out) != 0) {
            std::fprintf(stderr, "tour: cannot write %s: %s\n", path.c_str(), std::strerror(errno));
            std::exit(1);
        }
    }

private:
    template<typename... Args>
    void format(const char* format, Args... args)
    {
        char buffer[512];
        int length = std::snprintf(buffer, sizeof buffer, format, args...);
        m_body.append(buffer, static_cast<std::size_t>(std::clamp(length, 0, static_cast<int>(sizeof buffer) - 1)));
    }
    void grow(double right, double bottom)
    {
        m_right = std::max(m_right, right);
        m_bottom = std::max(m_bottom, bottom);
    }

    std::string m_body;
    double m_right { 0 };
    double m_bottom { 0 };
};

} // namespace vmemu::tour
