#pragma once
// Each event's subsystem, name and fields, in the kernel's TP_printk() formats where the
// kernel has the event; shared by the exporters.
#include <cstdio>
#include <vmemu/trace/tracepoint.hpp>

namespace vmemu::trace {

const char* event_name(Event event);      // "mm_page_alloc"
const char* event_subsystem(Event event); // "kmem"
const char* fault_type_name(std::uint64_t type);
// The fields of record, as its event's format prints them: "page=0x... pfn=0x... order=0 ...".
// They never contain a quote or a backslash, so JSON strings take them as they are.
void print_fields(std::FILE* out, const Record& record);

} // namespace vmemu::trace
