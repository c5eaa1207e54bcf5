#pragma once
// The public API of libvmemu: a Machine of physical frames and its AddressSpaces.
#include <vmemu/address_space.hpp>
#include <vmemu/base/parse_size.hpp>
#include <vmemu/machine.hpp>
#include <vmemu/trace/latency.hpp>
#include <vmemu/trace/tracepoint.hpp>
