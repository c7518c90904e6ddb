// The raw-byte checks of hdf5_checks.hpp. Before any attribute of an object is touched, its version-1 object
// header (what h5py and Keras write) is parsed here: every attribute message's name/datatype/dataspace sizes must
// lie within the message, and every variable-length string must refer to an existing global-heap object at least
// as long as the string. Object-header chunks and local heaps must lie within the file. These are the checks
// libhdf5 1.10.8 omits (docs/format-keras-h5.md, "Known libhdf5 crashes").

#include "hdf5_checks.hpp"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <vector>

#include <fmt/format.h>

#include "onsager/core/error.hpp"

namespace onsager::detail {

std::uint64_t Hdf5Checks::undefined_address() const {
  return sizeof_addr_ == 8 ? ~std::uint64_t{0} : (std::uint64_t{1} << (8 * sizeof_addr_)) - 1;
}

void Hdf5Checks::fail(const std::string& what) const { ONSAGER_FAIL("{}: {}", path_, what); }

std::string Hdf5Checks::raw(std::uint64_t at, std::uint64_t n, const std::string& what) const {
  if (at > size_ || n > size_ - at) fail(fmt::format("{} lies beyond the end of the file", what));
  std::ifstream in(path_, std::ios::binary);
  std::string out(static_cast<std::size_t>(n), '\0');
  in.seekg(static_cast<std::streamoff>(at));
  in.read(out.data(), static_cast<std::streamsize>(n));
  if (!in) fail(fmt::format("cannot read {}", what));
  return out;
}
std::uint64_t Hdf5Checks::le(const std::string& b, std::size_t off, std::size_t n) {
  std::uint64_t v = 0;
  for (std::size_t i = n; i-- > 0;) v = (v << 8) | static_cast<unsigned char>(b[off + i]);
  return v;
}

void Hdf5Checks::check_heap_object(std::uint64_t collection, std::uint64_t index, std::uint64_t length,
                                   const std::string& what) {
  auto it = heap_objects_.find(collection);
  if (it == heap_objects_.end()) {
    const std::size_t head = 8 + sizeof_size_;
    const std::string h = raw(base_ + collection, head, what + ": global heap");
    if (h.compare(0, 4, "GCOL") != 0 || h[4] != 1) fail(fmt::format("{}: no global heap collection at {}", what, collection));
    const std::uint64_t csize = le(h, 8, sizeof_size_);
    if (csize < head) fail(fmt::format("{}: global heap collection at {} has size {}", what, collection, csize));
    const std::string c = raw(base_ + collection, csize, what + ": global heap collection");
    std::map<std::uint64_t, std::uint64_t> objects;
    std::uint64_t max_index = 0;
    // The walk of libhdf5's H5HG__cache_heap_deserialize, which trusts every size: an object (index > 0) takes
    // its header plus its size rounded up to 8, a free-space record (index 0) its size; a size 0 there would
    // make libhdf5 loop for ever, a size past the end read beyond the collection.
    for (std::uint64_t p = head; p < csize && p + 8 + sizeof_size_ <= csize;) {
      const std::uint64_t idx = le(c, p, 2);
      const std::uint64_t osize = le(c, p + 8, sizeof_size_);
      const std::uint64_t hdr = 8 + sizeof_size_;
      if (idx > 0 && osize > csize - p - hdr)
        fail(fmt::format("{}: global heap object {} overruns its collection", what, idx));
      const std::uint64_t need = idx > 0 ? hdr + ((osize + 7) & ~std::uint64_t{7}) : osize;
      if (need == 0 || need > csize - p)
        fail(fmt::format("{}: global heap collection at {} has a malformed free-space record", what, collection));
      objects[idx] = osize;  // index 0: the free space, which libhdf5 also hands out as "object 0"
      max_index = std::max(max_index, idx);
      p += need;
    }
    // libhdf5's object table has at least this many entries (H5HG_NOBJS, grown to the largest index seen).
    const std::uint64_t table = std::max((csize - head) / (8 + sizeof_size_) + 2, max_index + 1);
    it = heap_objects_.emplace(collection, HeapCollection{std::move(objects), table}).first;
  }
  // libhdf5 (H5T_vlen_disk_read) reads the object of any string whose collection address is not null, even an
  // empty one, and copies all of it into a conversion buffer of ((length / 4096) + 1) x 4096 bytes at least: an
  // index past its object table, or an object larger than that buffer, is read or written out of bounds (fuzz_keras_h5
  // found a heap-buffer-overflow in H5HG_read <- H5T__conv_vlen <- H5Aread; tests/unit/regressions/ has one input of
  // each kind).
  const HeapCollection& heap = it->second;
  const auto obj = heap.objects.find(index);
  if (obj == heap.objects.end() || (index == 0 && length > 0)) {
    if (length == 0 && index < heap.table) return;  // an empty entry of the table: nothing is copied
    fail(fmt::format("{} refers to global heap object {} that does not exist", what, index));
  }
  if (length > obj->second)
    fail(fmt::format("{} claims a {}-byte string in a {}-byte heap object", what, length, obj->second));
  const std::uint64_t buffer = (length / 4096 + 1) * 4096;
  if (obj->second > buffer)
    fail(fmt::format("{} claims a {}-byte string whose heap object holds {} bytes", what, length, obj->second));
}

void Hdf5Checks::check_attribute_message(const std::string& m, std::size_t off, std::size_t msize,
                                         const std::string& obj_what) {
  const std::string what = "attribute message of " + obj_what;
  if (msize < 8) fail(what + " is truncated");
  const unsigned version = static_cast<unsigned char>(m[off]);
  if (version < 1 || version > 3) fail(fmt::format("{} has unknown version {}", what, version));
  const bool shared = version >= 2 && (static_cast<unsigned char>(m[off + 1]) & 3) != 0;
  const std::uint64_t name_sz = le(m, off + 2, 2), dt_sz = le(m, off + 4, 2), ds_sz = le(m, off + 6, 2);
  auto pad = [&](std::uint64_t n) { return version == 1 ? (n + 7) & ~std::uint64_t{7} : n; };
  const std::uint64_t dt = (version == 3 ? 9 : 8) + pad(name_sz), ds = dt + pad(dt_sz), data = ds + pad(ds_sz);
  if (data > msize) fail(fmt::format("{}: name, datatype and dataspace ({} bytes) overrun the {}-byte message", what, data, msize));
  // libhdf5 copies the name with strdup: it must end, with a NUL, inside its declared size (an unterminated name
  // was read past the message's buffer; found by fuzz_keras_h5).
  const std::size_t name_at = off + (version == 3 ? 9 : 8);
  if (name_sz == 0 || m.find('\0', name_at) >= name_at + name_sz) fail(what + ": its name is not NUL-terminated");
  if (dt_sz >= 2) {
    std::string name = m.substr(off + (version == 3 ? 9 : 8), static_cast<std::size_t>(name_sz));
    name.resize(std::strlen(name.c_str()));
    const unsigned cls = static_cast<unsigned char>(m[off + dt]) & 0x0f;
    const bool vlen_string = cls == 9 && (static_cast<unsigned char>(m[off + dt + 1]) & 0x0f) == 1;
    attribute_class_[{current_header_, name}] = shared ? 99 : (cls == 9 && !vlen_string ? 98 : cls);
  }
  if (shared) return;  // a committed datatype or shared dataspace: sizes not in this message
  check_datatype_names(m, off + dt, dt_sz, what);
  // libhdf5 copies npoints x the datatype's size from the message without comparing it with the message size.
  if (dt_sz < 8 || ds_sz < 4) fail(what + ": datatype or dataspace is truncated");
  const unsigned ds_version = static_cast<unsigned char>(m[off + ds]);
  const unsigned rank = static_cast<unsigned char>(m[off + ds + 1]);
  const std::uint64_t dims_at = ds + (ds_version == 1 ? 8 : 4);
  if (rank > 32 || dims_at + std::uint64_t{rank} * sizeof_size_ > ds + ds_sz) fail(what + ": dataspace overruns");
  std::uint64_t n = (ds_version >= 2 && static_cast<unsigned char>(m[off + ds + 3]) == 2) ? 0 : 1;
  for (unsigned i = 0; i < rank && n > 0; ++i) {
    const std::uint64_t d = le(m, off + dims_at + i * sizeof_size_, sizeof_size_);
    n = d > msize ? msize + 1 : n * d;
    if (n > msize) fail(what + ": more values than the message holds");
  }
  const bool vlen = (static_cast<unsigned char>(m[off + dt]) & 0x0f) == 9;
  const std::uint64_t element = le(m, off + dt + 4, 4);  // what libhdf5 copies per value
  if (vlen && element != 4 + sizeof_addr_ + 4)
    fail(fmt::format("{}: a variable-length datatype of {} bytes (expected {})", what, element, 4 + sizeof_addr_ + 4));
  if (element > msize || n * element > msize - data) fail(what + ": its data overruns the message");
  if (!vlen || (static_cast<unsigned char>(m[off + dt + 1]) & 0x0f) != 1) return;  // no strings in the heap
  // The string's base type (a 1-byte character): its size scales libhdf5's conversion buffer.
  if (dt_sz < 16 || le(m, off + dt + 12, 4) != 1) fail(what + ": a variable-length string of characters that are not 1 byte");
  for (std::uint64_t i = 0; i < n; ++i) {
    const std::size_t e = off + data + i * element;
    const std::uint64_t length = le(m, e, 4), collection = le(m, e + 4, sizeof_addr_);
    // An empty string still names a collection that libhdf5 loads (and walks) when it converts the value; only
    // the null address (0, or all ones: undefined) is never read.
    if (length == 0 && (collection == 0 || collection == undefined_address())) continue;
    check_heap_object(collection, le(m, e + 4 + sizeof_addr_, 4), length, "a string attribute of " + obj_what);
  }
}

// Before H5Fopen, which loads the root group's object header: finds the superblock (at 0, 512, 1024, ...),
// takes the address sizes, base address and root header address from it and checks that header.
void Hdf5Checks::check_superblock() {
  for (std::uint64_t at = 0; at + 8 <= size_; at = at == 0 ? 512 : at * 2) {
    const std::string sig = raw(at, 8, "the superblock");
    if (sig != std::string("\x89HDF\r\n\x1a\n", 8)) continue;
    const std::string sb = raw(at, std::min<std::uint64_t>(128, size_ - at), "the superblock");
    if (sb.size() < 16) return;
    const unsigned version = static_cast<unsigned char>(sb[8]);
    const bool old = version <= 1;
    sizeof_addr_ = static_cast<unsigned char>(sb[old ? 13 : 9]);
    sizeof_size_ = static_cast<unsigned char>(sb[old ? 14 : 10]);
    if (version > 3 || sizeof_addr_ < 2 || sizeof_addr_ > 8 || sizeof_size_ < 2 || sizeof_size_ > 8) return;  // libhdf5 refuses
    const std::size_t fields = old ? (version == 0 ? 24 : 28) : 12;
    // Old superblocks: base, free-space, end-of-file and driver-information addresses, then the root group's
    // symbol table entry (link name offset, object header address); new ones: base, extension, end-of-file and
    // root object header addresses.
    const std::size_t root_at = old ? fields + 4 * sizeof_addr_ + sizeof_size_ : fields + 3 * sizeof_addr_;
    if (root_at + sizeof_addr_ > sb.size()) return;
    base_ = at;  // libhdf5 replaces a base address that differs from the superblock's position with it
    const std::uint64_t undefined = undefined_address();
    if (old) {
      // The driver information block's claimed size is allocated by libhdf5 before it is read (found by
      // fuzz_keras_h5: malloc of 1 GB in H5C_protect <- H5F__super_read).
      const std::uint64_t drv = le(sb, fields + 3 * sizeof_addr_, sizeof_addr_);
      if (drv != undefined) {
        if (drv > size_ - base_ || size_ - base_ - drv < 16) fail("the driver information block lies beyond the end of the file");
        const std::string d = raw(base_ + drv, 16, "the driver information block");
        const std::uint64_t len = le(d, 4, 4);
        if (len > size_ - base_ - drv - 16)
          fail(fmt::format("the driver information block claims {} bytes, beyond the end of the file", len));
      }
    } else {
      const std::uint64_t ext = le(sb, fields + sizeof_addr_, sizeof_addr_);
      if (ext != undefined) check_header(ext);
    }
    check_header(le(sb, root_at, sizeof_addr_));
    checked_objects_.clear();  // checked again once libhdf5's own view of the file is known
    return;
  }
}

// libhdf5 copies an enum's member names (and a compound's field names) with strdup while it decodes the
// datatype, even for H5Aexists; a name without its NUL inside the datatype was read past the message's buffer
// (found by fuzz_keras_h5). Keras files hold no such attribute types; enums (h5py's bool) are walked as
// libhdf5 walks them, compounds refused.
void Hdf5Checks::check_datatype_names(const std::string& m, std::size_t at, std::uint64_t size,
                                      const std::string& what) const {
  const unsigned cls = static_cast<unsigned char>(m[at]) & 0x0f, version = static_cast<unsigned char>(m[at]) >> 4;
  if (cls == 6) fail(what + ": compound datatypes are not read");
  if (cls != 8) return;
  // An enum: 8-byte header (member count in bits 0-15), its integer base type (8 + 4 bytes), then the names.
  constexpr std::size_t names_at = 8 + 12;
  if (size < names_at || (static_cast<unsigned char>(m[at + 8]) & 0x0f) != 0)
    fail(what + ": an enum datatype whose base is not an integer");
  const std::uint64_t members = le(m, at + 1, 2);
  std::size_t pos = at + names_at;
  const std::size_t end = at + static_cast<std::size_t>(size);
  for (std::uint64_t i = 0; i < members; ++i) {
    const std::size_t nul = pos < end ? m.find('\0', pos) : std::string::npos;
    if (nul == std::string::npos || nul >= end) fail(what + ": an enum member name runs past its datatype");
    const std::size_t len = nul - pos;
    pos += version >= 3 ? len + 1 : (len + 8) / 8 * 8;  // as libhdf5 advances
  }
}

// A local heap's data segment must lie inside the file: libhdf5 1.10.8 allocates and copies its claimed size
// (a huge one crashed it in H5F__accum_read <- H5HL_protect <- H5G__stab_lookup).
void Hdf5Checks::check_local_heap(std::uint64_t addr, const std::string& what) const {
  const std::string h = raw(base_ + addr, 8 + 2 * sizeof_size_ + sizeof_addr_, what + ": its local heap");
  if (h.compare(0, 4, "HEAP") != 0) return;  // libhdf5 refuses the signature itself
  const std::uint64_t dsize = le(h, 8, sizeof_size_), daddr = le(h, 8 + 2 * sizeof_size_, sizeof_addr_);
  if (daddr > size_ - base_ || dsize > size_ - base_ - daddr)
    fail(fmt::format("{}: its local heap claims {} bytes at {}, beyond the end of the file", what, dsize, daddr));
  // The free list (blocks of next offset, size inside the data segment, ending at H5HL_FREE_NULL = 1): libhdf5
  // allocates a node per block and never looks for a cycle, so a loop made it allocate until memory ran out
  // (found by fuzz_keras_h5). Blocks do not overlap, so a list longer than dsize / (2 * sizeof_size) loops.
  const std::uint64_t block = 2 * static_cast<std::uint64_t>(sizeof_size_);
  std::uint64_t next = le(h, 8 + sizeof_size_, sizeof_size_);
  for (std::uint64_t steps = 0; next != 1; ++steps) {
    if (next >= dsize || dsize - next < block) return;  // libhdf5 refuses the block itself
    if (steps > dsize / block) fail(what + ": its local heap's free list loops");
    next = le(raw(base_ + daddr + next, block, what + ": its local heap's free list"), 0, sizeof_size_);
  }
}

// Checks the object header at `addr` (once per object) before libhdf5 loads it: every chunk (the first and each
// continuation) must lie inside the file, since libhdf5 allocates a chunk's claimed size before reading it; in
// a version-1 header (what h5py writes) also every attribute message (check_attribute_message).
void Hdf5Checks::check_header(haddr_t addr) {
  if (!checked_objects_.insert(addr).second) return;
  const std::string what = fmt::format("the object header at {}", addr);
  current_header_ = addr;
  if (addr >= size_ || base_ + addr >= size_) fail(what + " lies beyond the end of the file");
  const std::string prefix = raw(base_ + addr, std::min<std::uint64_t>(32, size_ - base_ - addr), what);
  struct Chunk { std::uint64_t at, len; };
  std::vector<Chunk> chunks;
  bool v1 = false, crt_order = false;
  if (prefix.size() >= 16 && prefix[0] == 1) {
    v1 = true;
    chunks.push_back({base_ + addr + 16, le(prefix, 8, 4)});
  } else if (prefix.size() >= 8 && prefix.compare(0, 4, "OHDR") == 0) {
    const unsigned flags = static_cast<unsigned char>(prefix[5]);
    crt_order = (flags & 0x04) != 0;
    std::size_t pos = 6 + ((flags & 0x20) ? 16 : 0) + ((flags & 0x10) ? 4 : 0);
    const std::size_t width = std::size_t{1} << (flags & 3);
    if (pos + width > prefix.size()) fail(what + " is truncated");
    chunks.push_back({base_ + addr + pos + width, le(prefix, pos, width)});
  } else {
    return;  // not a header libhdf5 will accept: it refuses the signature or version itself
  }
  for (std::size_t c = 0; c < chunks.size(); ++c) {
    if (c >= 64) fail(what + " has more than 64 continuation chunks");
    const std::string m = raw(chunks[c].at, chunks[c].len, what + " (a chunk of " + std::to_string(chunks[c].len) +
                                                               " bytes)");
    std::size_t p = 0, end = m.size();
    if (!v1 && c > 0) {  // "OCHK" ... checksum
      if (m.size() < 8 || m.compare(0, 4, "OCHK") != 0) return;  // libhdf5 refuses it
      p = 4;
      end -= 4;
    }
    const std::size_t head = v1 ? 8 : (crt_order ? 6 : 4);
    while (p + head <= end) {
      const std::uint64_t type = v1 ? le(m, p, 2) : le(m, p, 1);
      const std::uint64_t msize = v1 ? le(m, p + 2, 2) : le(m, p + 1, 2);
      if (msize > end - p - head) fail(what + ": a message overruns its chunk");
      if (type == 0x10 && msize < sizeof_addr_ + sizeof_size_) fail(what + ": a continuation message is truncated");
      if (type == 0x10)
        chunks.push_back({base_ + le(m, p + head, sizeof_addr_), le(m, p + head + sizeof_addr_, sizeof_size_)});
      if (v1 && type == 0x0c) check_attribute_message(m, p + head, msize, what);
      if (v1 && type == 0x03 && msize >= 1) dataset_class_[addr] = static_cast<unsigned char>(m[p + head]) & 0x0f;
      if (type == 0x11) {  // symbol table: a version-1 group's B-tree and local heap (of names)
        if (msize < 2 * sizeof_addr_) fail(what + ": a symbol-table message is truncated");
        check_local_heap(le(m, p + head + sizeof_addr_, sizeof_addr_), what);
      }
      p += head + msize;
    }
  }
}

void Hdf5Checks::set_layout(std::uint64_t base, std::size_t sizeof_addr, std::size_t sizeof_size) {
  base_ = base;
  sizeof_addr_ = sizeof_addr;
  sizeof_size_ = sizeof_size;
}

std::optional<unsigned> Hdf5Checks::dataset_class(haddr_t addr) const {
  const auto c = dataset_class_.find(addr);
  if (c == dataset_class_.end()) return std::nullopt;
  return c->second;
}

std::optional<unsigned> Hdf5Checks::attribute_class(haddr_t addr, const std::string& name) const {
  const auto c = attribute_class_.find({addr, name});
  if (c == attribute_class_.end()) return std::nullopt;
  return c->second;
}

}  // namespace onsager::detail
