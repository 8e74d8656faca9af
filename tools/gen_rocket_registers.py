#!/usr/bin/env python3
"""Generate rocket/registers.h from src/backends/rocket/registers.xml.

Usage: gen_rocket_registers.py --xml registers.xml [--out registers.h]

Without --out the XML is only validated. Validation rejects anything that
would make the generated accessors lie: overlapping fields, bits outside
0..31, one-bit "bool" fields that are wider, duplicate names or offsets,
registers outside their block's window, unknown elements or attributes.
Errors go to stderr as "file:line: message" and the exit status is 1; the
output file is then left untouched.
"""

import argparse
import os
import re
import sys
import xml.parsers.expat

IDENT = re.compile(r"^[A-Z][A-Z0-9_]*$")
BLOCK_WINDOW = 0x1000  # each block owns base .. base + 0xFFF


class Node:
    """A parsed XML element that remembers its source line."""

    def __init__(self, tag, attrs, line):
        self.tag, self.attrs, self.line, self.children = tag, attrs, line, []


def parse(path):
    """Parse with expat directly so every element keeps its line number."""
    root, stack = None, []
    parser = xml.parsers.expat.ParserCreate()

    def start(tag, attrs):
        nonlocal root
        node = Node(tag, attrs, parser.CurrentLineNumber)
        if stack:
            stack[-1].children.append(node)
        else:
            root = node
        stack.append(node)

    def end(_tag):
        stack.pop()

    parser.StartElementHandler, parser.EndElementHandler = start, end
    with open(path, "rb") as f:
        parser.ParseFile(f)
    return root


class Errors:
    def __init__(self, path):
        self.path, self.messages = path, []

    def add(self, node, message):
        self.messages.append(f"{self.path}:{node.line}: {message}")


def parse_int(text):
    return int(text, 0)


def check_attrs(errors, node, required, optional=()):
    for a in required:
        if a not in node.attrs:
            errors.add(node, f"<{node.tag}> needs attribute '{a}'")
    for a in node.attrs:
        if a not in required and a not in optional:
            errors.add(node, f"<{node.tag}> has unknown attribute '{a}'")


def int_attr(errors, node, name):
    try:
        return parse_int(node.attrs[name])
    except (KeyError, ValueError):
        if name in node.attrs:
            errors.add(node, f"attribute {name}='{node.attrs[name]}' is not an integer")
        return None


def load(path):
    """Returns (blocks, errors): blocks = [dict(name, code, base, regs=[...])]."""
    errors = Errors(path)
    try:
        root = parse(path)
    except (xml.parsers.expat.ExpatError, OSError) as e:
        errors.messages.append(f"{path}: {e}")
        return [], errors
    if root.tag != "registers":
        errors.add(root, f"root element must be <registers>, not <{root.tag}>")
        return [], errors

    blocks, offsets, struct_names, codes = [], {}, {}, {}
    for bnode in root.children:
        if bnode.tag != "block":
            errors.add(bnode, f"unexpected <{bnode.tag}> (only <block> allowed here)")
            continue
        check_attrs(errors, bnode, ("name", "base"), ("code",))
        bname = bnode.attrs.get("name", "")
        if not IDENT.match(bname):
            errors.add(bnode, f"block name '{bname}' is not an upper-case identifier")
        base = int_attr(errors, bnode, "base")
        code = int_attr(errors, bnode, "code") if "code" in bnode.attrs else None
        if code is not None:
            if not 0 < code <= 0xFFFF or code & 1:
                errors.add(bnode, f"block code 0x{code:x} must be even and fit 16 bits (writes use code|1)")
            elif code in codes:
                errors.add(bnode, f"block code 0x{code:x} already used by {codes[code]}")
            codes[code] = bname
        if base is not None and (base % BLOCK_WINDOW or not 0 <= base <= 0xF000):
            errors.add(bnode, f"block base 0x{base:x} must be a multiple of 0x1000 below 0x10000")
        block = {"name": bname, "code": code, "base": base, "regs": []}
        if any(b["name"] == bname for b in blocks):
            errors.add(bnode, f"duplicate block '{bname}'")
        blocks.append(block)

        for rnode in bnode.children:
            if rnode.tag != "reg":
                errors.add(rnode, f"unexpected <{rnode.tag}> in block {bname}")
                continue
            check_attrs(errors, rnode, ("name", "offset"))
            rname = rnode.attrs.get("name", "")
            full = f"{bname}_{rname}"
            if not IDENT.match(rname):
                errors.add(rnode, f"register name '{rname}' is not an upper-case identifier")
            elif full in struct_names:
                errors.add(rnode, f"register {full} defined twice (first at line {struct_names[full]})")
            struct_names.setdefault(full, rnode.line)
            off = int_attr(errors, rnode, "offset")
            if off is not None:
                if off % 4:
                    errors.add(rnode, f"{full}: offset 0x{off:x} is not 4-byte aligned")
                if base is not None and not base <= off < base + BLOCK_WINDOW:
                    errors.add(rnode, f"{full}: offset 0x{off:x} outside block window 0x{base:x}..0x{base + BLOCK_WINDOW - 1:x}")
                if off in offsets:
                    errors.add(rnode, f"{full}: offset 0x{off:x} already used by {offsets[off]}")
                offsets.setdefault(off, full)
            reg = {"name": rname, "full": full, "offset": off, "fields": []}
            block["regs"].append(reg)
            load_fields(errors, rnode, reg)
    return blocks, errors


def load_fields(errors, rnode, reg):
    used = [None] * 32  # bit -> field name
    names = set()
    for fnode in rnode.children:
        if fnode.tag != "field":
            errors.add(fnode, f"unexpected <{fnode.tag}> in register {reg['full']}")
            continue
        check_attrs(errors, fnode, ("name", "lo", "hi"), ("type",))
        fname = fnode.attrs.get("name", "")
        where = f"{reg['full']}.{fname}"
        if not IDENT.match(fname):
            errors.add(fnode, f"{where}: field name is not an upper-case identifier")
        if fname == reg["full"]:
            errors.add(fnode, f"{where}: field may not be named like its register's struct")
        if fname in names:
            errors.add(fnode, f"{where}: duplicate field name")
        names.add(fname)
        lo, hi = int_attr(errors, fnode, "lo"), int_attr(errors, fnode, "hi")
        ftype = fnode.attrs.get("type")
        if ftype not in (None, "bool"):
            errors.add(fnode, f"{where}: unknown type '{ftype}' (only 'bool')")
        if lo is None or hi is None:
            continue
        if not (0 <= lo <= 31 and 0 <= hi <= 31):
            errors.add(fnode, f"{where}: bits [{hi}:{lo}] outside 0..31")
            continue
        if lo > hi:
            errors.add(fnode, f"{where}: lo={lo} is above hi={hi}")
            continue
        if ftype == "bool" and lo != hi:
            errors.add(fnode, f"{where}: bool field must be exactly one bit, has [{hi}:{lo}]")
        for bit in range(lo, hi + 1):
            if used[bit] is not None:
                errors.add(fnode, f"{where}: bit {bit} overlaps field {used[bit]}")
                break
        for bit in range(lo, hi + 1):
            used[bit] = used[bit] or fname
        reg["fields"].append({"name": fname, "lo": lo, "hi": hi, "bool": ftype == "bool"})
    if not reg["fields"] and not names:
        errors.add(rnode, f"{reg['full']}: register has no fields (use one 32-bit field for a plain value)")


def mask_of(field):
    return (1 << (field["hi"] - field["lo"] + 1)) - 1


PRELUDE = """\
// Generated by tools/gen_rocket_registers.py from src/backends/rocket/registers.xml.
// Do not edit: change the XML instead.
//
// Field setters return the field's bits in place; OR them together to build a
// register value. A value that does not fit its field is never masked:
// in a constant expression it is a compile error (the check calls a
// non-constexpr function), at run time it calls field_out_of_range(), which
// names the register and field on stderr and aborts. Negative quantities
// (offsets, zero points) go through twos_complement() first, which checks the
// range for the field width.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <span>

namespace nonstick::rocket::reg {
"""

HELPERS = """\
// Packs one regcmd word: bits 63..48 target, 47..16 value, 15..0 offset.
constexpr uint64_t regcmd(Target t, uint16_t offset, uint32_t value) {
  return uint64_t{static_cast<uint16_t>(t)} << 48 | uint64_t{value} << 16 | offset;
}

// The three parts of a regcmd word, target kept raw (it may be a special op).
struct RegcmdParts {
  uint16_t target;
  uint32_t value;
  uint16_t offset;
};
constexpr RegcmdParts unpack_regcmd(uint64_t word) {
  return {static_cast<uint16_t>(word >> 48), static_cast<uint32_t>(word >> 16),
          static_cast<uint16_t>(word)};
}

// Called when a setter gets a value that does not fit; never returns.
[[noreturn]] inline void field_out_of_range(const char* reg, const char* field, int64_t value,
                                            uint32_t width) {
  std::fprintf(stderr, "rocket register %s.%s: value %lld (0x%llx) does not fit in %u bits\\n",
               reg, field, static_cast<long long>(value), static_cast<unsigned long long>(value),
               static_cast<unsigned>(width));
  std::abort();
}

namespace detail {
constexpr uint32_t pack(uint32_t v, unsigned lo, unsigned hi, const char* reg, const char* field) {
  const uint32_t max = hi - lo == 31 ? 0xFFFFFFFFu : (1u << (hi - lo + 1)) - 1;
  if (v > max) field_out_of_range(reg, field, v, hi - lo + 1);
  return v << lo;
}
constexpr uint32_t extract(uint32_t value, unsigned lo, unsigned hi) {
  const uint32_t max = hi - lo == 31 ? 0xFFFFFFFFu : (1u << (hi - lo + 1)) - 1;
  return (value >> lo) & max;
}
}  // namespace detail

// Two's-complement bits of v for a field `width` bits wide (e.g. the 16-bit
// BS_OW_OP or CVT_OFFSETn); traps like a setter when v needs more bits.
constexpr uint32_t twos_complement(int64_t v, unsigned width) {
  const int64_t lo = -(int64_t{1} << (width - 1));
  const int64_t hi = (int64_t{1} << (width - 1)) - 1;
  if (v < lo || v > hi) field_out_of_range("twos_complement", "value", v, width);
  return static_cast<uint32_t>(static_cast<uint64_t>(v) & ((uint64_t{1} << width) - 1));
}
"""

TAIL = """\
// ---- Task tail (rocket.md 2.2): the last four words of every task regcmd.
// Word 3 is a marker with op 0x0041 and nothing else; word 4 is op 0x0081
// on PC OPERATION_ENABLE whose value is a block-enable mask in the layout of
// GLOBAL_OPERATION_ENABLE.
inline constexpr uint16_t kTaskMarkerOp = 0x0041;
inline constexpr uint16_t kOpEnableOp = 0x0081;
inline constexpr size_t kTaskTailWords = 4;

// CNA | CORE | DPU | DPU_RDMA = 0x1d: what Mesa enables for every convolution.
inline constexpr uint32_t kConvOpEnableBlocks =
    GLOBAL_OPERATION_ENABLE::CNA_OP_EN(1) | GLOBAL_OPERATION_ENABLE::CORE_OP_EN(1) |
    GLOBAL_OPERATION_ENABLE::DPU_OP_EN(1) | GLOBAL_OPERATION_ENABLE::DPU_RDMA_OP_EN(1);

constexpr uint64_t task_marker_word() { return uint64_t{kTaskMarkerOp} << 48; }

constexpr uint64_t op_enable_word(uint32_t blocks) {
  return uint64_t{kOpEnableOp} << 48 |
         uint64_t{detail::pack(blocks, 0, 6, "PC_OPERATION_ENABLE", "BLOCKS")} << 16 |
         PC_OPERATION_ENABLE::offset;
}

// PC_REGISTER_AMOUNTS value announcing a next task of `next_count` words
// (tail included): (count - 4) / 2 rounded up to even; 130 words -> 64.
constexpr uint32_t pc_data_amount(uint32_t next_count) {
  constexpr uint32_t tail = kTaskTailWords;
  const uint32_t half = next_count >= tail ? (next_count - tail) / 2 : 0;
  return PC_REGISTER_AMOUNTS::PC_DATA_AMOUNT((half + 1) & ~1u);
}

// The four tail words. A job of one task starts the tail with an all-zero
// word; chained tasks write PC_BASE_ADDRESS (next task's regcmd IOVA, 0 in the
// last task) and PC_REGISTER_AMOUNTS (0 in the last task).
constexpr std::array<uint64_t, kTaskTailWords> task_tail(bool single_task_job,
                                                         uint32_t next_regcmd_iova,
                                                         uint32_t next_regcmd_count,
                                                         uint32_t blocks = kConvOpEnableBlocks) {
  uint64_t base = 0;
  if (!single_task_job) {
    if (next_regcmd_iova & 0xF) field_out_of_range("PC_BASE_ADDRESS", "PC_SOURCE_ADDR", next_regcmd_iova, 28);
    base = PC_BASE_ADDRESS::cmd(PC_BASE_ADDRESS::PC_SOURCE_ADDR(next_regcmd_iova >> 4));
  }
  const uint32_t amount = next_regcmd_count ? pc_data_amount(next_regcmd_count) : 0;
  return {base, PC_REGISTER_AMOUNTS::cmd(amount), task_marker_word(), op_enable_word(blocks)};
}
"""


def emit(blocks):
    out = [PRELUDE]
    out.append("// Regcmd target of a register write: block code | 1.")
    out.append("enum class Target : uint16_t {")
    targets = [b for b in blocks if b["code"] is not None]
    for b in targets:
        out.append(f"  {b['name']} = 0x{b['code'] | 1:04X},")
    out.append("};\n")
    out.append("constexpr const char* target_name(Target t) {")
    out.append("  switch (t) {")
    for b in targets:
        out.append(f"    case Target::{b['name']}: return \"{b['name']}\";")
    out.append("  }")
    out.append("  return nullptr;")
    out.append("}\n")
    out.append("// Block name of a raw target word value (code | 1), or nullptr.")
    out.append("constexpr const char* target_name(uint16_t raw) {")
    out.append("  switch (raw) {")
    for b in targets:
        out.append(f"    case 0x{b['code'] | 1:04X}: return \"{b['name']}\";")
    out.append("    default: return nullptr;")
    out.append("  }")
    out.append("}\n")
    out.append(HELPERS)

    for b in blocks:
        out.append(f"// ---- {b['name']}" + (f" (target 0x{b['code'] | 1:04X})" if b["code"] else " (no regcmd target)"))
        for r in b["regs"]:
            s = r["full"]
            out.append(f"struct {s} {{")
            out.append(f"  static constexpr const char* name = \"{s}\";")
            out.append(f"  static constexpr uint16_t offset = 0x{r['offset']:04X};")
            if b["code"] is not None:
                out.append(f"  static constexpr Target target = Target::{b['name']};")
                out.append("  static constexpr uint64_t cmd(uint32_t value) { return regcmd(target, offset, value); }")
            for f in r["fields"]:
                n, lo, hi = f["name"], f["lo"], f["hi"]
                kind = "bool, 0/1" if f["bool"] else f"[{hi}:{lo}]"
                out.append(f"  // {n} {kind}")
                out.append(f"  static constexpr uint32_t {n}(uint32_t v) {{ return detail::pack(v, {lo}, {hi}, name, \"{n}\"); }}")
                out.append(f"  static constexpr uint32_t get_{n}(uint32_t value) {{ return detail::extract(value, {lo}, {hi}); }}")
            out.append("};")
        out.append("")

    out.append(TAIL)

    # Decode tables, sorted by offset for find_register().
    regs = sorted(((b, r) for b in blocks for r in b["regs"]), key=lambda br: br[1]["offset"])
    out.append("// ---- Decode tables.")
    out.append("struct FieldInfo {\n  const char* name;\n  uint8_t lo, hi;\n};")
    out.append("struct RegisterInfo {\n  const char* block;\n  const char* name;\n  uint16_t offset;\n"
               "  const FieldInfo* fields;\n  uint8_t field_count;\n};\n")
    out.append("inline constexpr FieldInfo kFieldTable[] = {")
    starts = []
    index = 0
    for b, r in regs:
        starts.append(index)
        for f in r["fields"]:
            out.append(f"    {{\"{f['name']}\", {f['lo']}, {f['hi']}}},  // {r['full']}")
            index += 1
    out.append("};\n")
    out.append("// Every register, sorted by offset.")
    out.append("inline constexpr RegisterInfo kRegisterTable[] = {")
    for (b, r), start in zip(regs, starts):
        out.append(f"    {{\"{b['name']}\", \"{r['name']}\", 0x{r['offset']:04X}, kFieldTable + {start}, {len(r['fields'])}}},")
    out.append("};\n")
    out.append("""\
constexpr std::span<const RegisterInfo> all_registers() { return kRegisterTable; }

// Register at a full per-core offset, or nullptr when the offset is unknown.
constexpr const RegisterInfo* find_register(uint16_t offset) {
  size_t lo = 0, hi = std::size(kRegisterTable);
  while (lo < hi) {
    const size_t mid = (lo + hi) / 2;
    if (kRegisterTable[mid].offset < offset) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo < std::size(kRegisterTable) && kRegisterTable[lo].offset == offset ? &kRegisterTable[lo]
                                                                               : nullptr;
}

}  // namespace nonstick::rocket::reg
""")
    return "\n".join(out)


def write_if_changed(path, text):
    """Rewrites only on change so dependents are not rebuilt needlessly."""
    try:
        with open(path, encoding="utf-8") as f:
            if f.read() == text:
                return
    except OSError:
        pass
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--xml", required=True)
    ap.add_argument("--out", help="header to write; omit to validate only")
    args = ap.parse_args(argv)
    blocks, errors = load(args.xml)
    if errors.messages:
        for m in errors.messages:
            print(m, file=sys.stderr)
        print(f"{args.xml}: {len(errors.messages)} error(s); no header written", file=sys.stderr)
        return 1
    required = {"PC_OPERATION_ENABLE", "PC_BASE_ADDRESS", "PC_REGISTER_AMOUNTS", "GLOBAL_OPERATION_ENABLE"}
    present = {r["full"] for b in blocks for r in b["regs"]}
    if not required <= present:
        print(f"{args.xml}: missing registers the task-tail helpers need: {sorted(required - present)}",
              file=sys.stderr)
        return 1
    if args.out:
        write_if_changed(args.out, emit(blocks))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
