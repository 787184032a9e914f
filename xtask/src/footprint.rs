//! `cargo xtask footprint`: what Duet costs a firmware, in bytes.
//!
//! Builds the images of `xtask/footprint-image` (a workspace of its own, with
//! the size profile a shipping firmware uses: opt-level "z", fat LTO, one
//! codegen unit, panic abort) for the Cortex-M4F target, then reads each ELF
//! and prints one machine-readable line per image:
//!
//! `footprint <image> text=<bytes> rodata=<bytes> data=<bytes> bss=<bytes>`
//!
//! followed by one `size_of <type> bytes=<n>` line per type in the image
//! crate's `size_table!`, as laid out for the target rather than the host,
//! with the protocols' features alone (duet-netstack `udp,tcp`), then
//! `size_of <type> features=default bytes=<n>` for the types that
//! duet-netstack's default features make larger (the TCP control block:
//! CUBIC's state, async sockets' wakers).
//!
//! The section classes, by output section name (cortex-m-rt's `link.x`):
//! - `text`: `.vector_table`, `.text*`, `.gnu.sgstubs` — code and the vector
//!   table, which live in flash and are executed or read by the core.
//! - `rodata`: `.rodata*` — constants in flash.
//! - `data`: `.data*` — initialised statics: their size is paid twice, in
//!   RAM and for the initial values in flash; reported once, here.
//! - `bss`: `.bss*` and `.uninit*` — zeroed or uninitialised statics, RAM only.
//!
//! No image may contain `memmove`: Duet moves bytes within a buffer through
//! `duet_netstack::no_memmove` instead (why is said there), and a
//! `copy_within` or a move the compiler cannot prove disjoint would bring
//! its 1.5 KB back. The command fails, naming the image, if one does.
//!
//! Sections the device never loads (symbols, `.comment`, attributes, debug
//! info) are not counted. An allocated section of any other name is an error,
//! so a new kind of section cannot silently go uncounted.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use object::{Object, ObjectSection, ObjectSymbol, SectionFlags, elf};

use crate::cmd;

/// The firmware target: Cortex-M4F, as on the MPS2-AN386 board QEMU emulates.
pub const TARGET: &str = "thumbv7em-none-eabihf";

/// Where the image crate builds, relative to the repository root: apart from
/// the host workspace's `target/debug`, whose profile and target differ.
pub const TARGET_DIR: &str = "target/footprint";

/// The image crate, relative to the repository root.
const IMAGE_CRATE: &str = "xtask/footprint-image";

/// The measured images: binaries of the image crate.
pub const IMAGES: &[(&str, &str)] = &[
    ("runtime", "runtime"),
    ("ipv4-udp", "udp"),
    ("ipv4-tcp", "tcp"),
    ("crypto-soft", "crypto"),
    ("mqtt-client", "mqtt"),
    ("mqtt-async-client", "mqtt-async"),
    ("dhcpv4-client", "dhcpv4"),
    ("sntp-client", "sntp"),
    ("dns-resolver", "dns"),
    ("autoip", "autoip"),
    ("tls-engine", "tls"),
    ("tls-client", "tls"),
    ("azure-hub", "azure"),
    ("azure-device", "azure-device"),
];

/// The image crate's binary that carries the `size_of` table, and its features.
const SIZES_BINARY: (&str, &str) = ("sizes", "udp,tcp");

/// The same table built with duet-netstack's default features, and the
/// types whose size those change, printed again with `features=default`.
const SIZES_DEFAULT_BINARY: (&str, &str) = ("sizes-default", "udp,tcp,netstack-default");
const SIZES_BY_FEATURES: &[&str] = &["duet_netstack::tcp::TcpSocket"];

/// The table's symbols; their mangled names contain these.
const SIZES_SYMBOL: &str = "DUET_SIZES";
const NAMES_SYMBOL: &str = "DUET_SIZE_NAMES";

/// Why an image could not be measured.
#[derive(Debug)]
pub enum Error {
    /// The ELF file could not be read.
    Read { path: PathBuf, source: io::Error },
    /// The ELF file did not make sense.
    Elf { path: PathBuf, source: ElfError },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Read { path, source } => write!(f, "cannot read {}: {source}", path.display()),
            Error::Elf { path, source } => write!(f, "{}: {source}", path.display()),
        }
    }
}

impl std::error::Error for Error {}

/// What is wrong inside an ELF file.
#[derive(Debug)]
pub enum ElfError {
    /// Not an ELF file the `object` crate can read.
    Parse(object::Error),
    /// Allocated sections that fit no class (see the module doc).
    Unclassified(Vec<String>),
    /// No symbol's name contains this.
    MissingSymbol(&'static str),
    /// Several symbols at different places match this name.
    AmbiguousSymbol(&'static str, Vec<String>),
    /// The symbol has no bytes in the file (an undefined or `.bss` symbol).
    NoData(&'static str),
    /// The size table's two statics disagree on the number of types.
    TableMismatch { sizes: usize, names: usize },
    /// Functions the module doc says no image may contain.
    Memmove(Vec<String>),
}

impl fmt::Display for ElfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ElfError::Parse(error) => write!(f, "not a readable ELF file: {error}"),
            ElfError::Unclassified(names) => {
                write!(
                    f,
                    "allocated sections of no known class: {}",
                    names.join(", ")
                )
            }
            ElfError::MissingSymbol(name) => write!(f, "no symbol named like `{name}`"),
            ElfError::AmbiguousSymbol(name, found) => {
                write!(
                    f,
                    "several symbols named like `{name}`: {}",
                    found.join(", ")
                )
            }
            ElfError::NoData(name) => write!(f, "symbol `{name}` has no data in the file"),
            ElfError::TableMismatch { sizes, names } => {
                write!(f, "size table has {sizes} sizes but {names} names")
            }
            ElfError::Memmove(names) => write!(
                f,
                "contains memmove ({}): move within a buffer with \
                 duet_netstack::no_memmove::copy_within",
                names.join(", ")
            ),
        }
    }
}

impl From<object::Error> for ElfError {
    fn from(error: object::Error) -> Self {
        ElfError::Parse(error)
    }
}

/// Where a section's bytes are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Text,
    Rodata,
    Data,
    Bss,
}

/// The class of an output section, by name; `None` for names outside every
/// class (see the module doc for the table).
pub fn classify(name: &str) -> Option<Class> {
    let is = |base: &str| {
        name.strip_prefix(base)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
    };
    if is(".text") || name == ".vector_table" || name == ".gnu.sgstubs" {
        Some(Class::Text)
    } else if is(".rodata") {
        Some(Class::Rodata)
    } else if is(".data") {
        Some(Class::Data)
    } else if is(".bss") || is(".uninit") {
        Some(Class::Bss)
    } else {
        None
    }
}

/// An image's bytes per class.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Footprint {
    pub text: u64,
    pub rodata: u64,
    pub data: u64,
    pub bss: u64,
}

impl Footprint {
    /// Totals sections given as (name, size, allocated). Sections that are
    /// not allocated are skipped; allocated ones of no class are an error.
    pub fn of_sections<'a>(
        sections: impl IntoIterator<Item = (&'a str, u64, bool)>,
    ) -> Result<Footprint, ElfError> {
        let mut footprint = Footprint::default();
        let mut unclassified = Vec::new();
        for (name, size, allocated) in sections {
            match classify(name) {
                Some(Class::Text) => footprint.text += size,
                Some(Class::Rodata) => footprint.rodata += size,
                Some(Class::Data) => footprint.data += size,
                Some(Class::Bss) => footprint.bss += size,
                None if allocated && size > 0 => unclassified.push(name.to_string()),
                None => {}
            }
        }
        if unclassified.is_empty() {
            Ok(footprint)
        } else {
            Err(ElfError::Unclassified(unclassified))
        }
    }

    /// Totals the sections of an ELF file.
    pub fn of_elf(elf: &[u8]) -> Result<Footprint, ElfError> {
        let file = object::File::parse(elf)?;
        let sections = file
            .sections()
            .map(|section| {
                let allocated = match section.flags() {
                    SectionFlags::Elf { sh_flags, .. } => sh_flags.contains(elf::SHF_ALLOC),
                    _ => false,
                };
                Ok((section.name()?, section.size(), allocated))
            })
            .collect::<Result<Vec<_>, object::Error>>()?;
        Footprint::of_sections(sections)
    }

    /// The footprint line for `image`, in the format the module doc gives.
    pub fn line(&self, image: &str) -> String {
        let Footprint {
            text,
            rodata,
            data,
            bss,
        } = self;
        format!("footprint {image} text={text} rodata={rodata} data={data} bss={bss}")
    }
}

/// Whether a symbol is compiler_builtins' `memmove` or one of its ARM EABI
/// entry points (`__aeabi_memmove`, `__aeabi_memmove4`, ...). The mangled
/// Rust name is matched by its path's tail, `mem::memmove`
/// (`3mem7memmove`), so that `no_memmove::copy_within` is not taken for it.
pub fn is_memmove(symbol: &str) -> bool {
    symbol == "memmove" || symbol.starts_with("__aeabi_memmove") || symbol.contains("3mem7memmove")
}

/// `Memmove` with the names, if the image defines a [`is_memmove`] function.
pub fn check_no_memmove(elf: &[u8]) -> Result<(), ElfError> {
    let file = object::File::parse(elf)?;
    let found: Vec<String> = file
        .symbols()
        .filter(|s| s.is_definition())
        .filter_map(|s| s.name().ok().filter(|n| is_memmove(n)).map(String::from))
        .collect();
    if found.is_empty() {
        Ok(())
    } else {
        Err(ElfError::Memmove(found))
    }
}

/// The `size_of` line for one type.
pub fn size_line(type_name: &str, bytes: u32) -> String {
    format!("size_of {type_name} bytes={bytes}")
}

/// [`size_line`] for a build with other features than the table's.
pub fn size_line_with(type_name: &str, features: &str, bytes: u32) -> String {
    format!("size_of {type_name} features={features} bytes={bytes}")
}

/// The bytes of the data symbol whose name contains `name`, as the ELF file
/// holds them. LTO may mangle (and hash) the name, so it is matched by
/// substring; several matches are fine only if they are aliases of one place.
pub fn symbol_bytes<'data>(
    file: &object::File<'data>,
    name: &'static str,
) -> Result<&'data [u8], ElfError> {
    let matches: Vec<_> = file
        .symbols()
        .filter(|s| s.name().is_ok_and(|n| n.contains(name)))
        .collect();
    let first = matches.first().ok_or(ElfError::MissingSymbol(name))?;
    if matches
        .iter()
        .any(|s| (s.address(), s.size()) != (first.address(), first.size()))
    {
        let names = matches
            .iter()
            .filter_map(|s| s.name().ok().map(String::from))
            .collect();
        return Err(ElfError::AmbiguousSymbol(name, names));
    }
    let index = first.section_index().ok_or(ElfError::NoData(name))?;
    let section = file.section_by_index(index)?;
    section
        .data_range(first.address(), first.size())?
        .ok_or(ElfError::NoData(name))
}

/// Reads consecutive `u32`s in the file's byte order; a trailing partial
/// word (never in a well-formed table) is ignored.
pub fn decode_u32s(bytes: &[u8], little_endian: bool) -> Vec<u32> {
    bytes
        .chunks_exact(4)
        .map(|word| {
            let word = [word[0], word[1], word[2], word[3]];
            if little_endian {
                u32::from_le_bytes(word)
            } else {
                u32::from_be_bytes(word)
            }
        })
        .collect()
}

/// Splits the newline-terminated type paths of `DUET_SIZE_NAMES`, dropping
/// any spaces `stringify!` may put around `::`.
pub fn decode_names(bytes: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(bytes)
        .split_terminator('\n')
        .map(|name| name.chars().filter(|c| !c.is_whitespace()).collect())
        .collect()
}

/// The (type, size) table of the `sizes` binary.
pub fn size_table(elf: &[u8]) -> Result<Vec<(String, u32)>, ElfError> {
    let file = object::File::parse(elf)?;
    let sizes = decode_u32s(symbol_bytes(&file, SIZES_SYMBOL)?, file.is_little_endian());
    let names = decode_names(symbol_bytes(&file, NAMES_SYMBOL)?);
    if sizes.len() != names.len() {
        return Err(ElfError::TableMismatch {
            sizes: sizes.len(),
            names: names.len(),
        });
    }
    Ok(names.into_iter().zip(sizes).collect())
}

/// The footprint of the ELF file at `path`.
pub fn of_file(path: &Path) -> Result<Footprint, Error> {
    in_file(path, Footprint::of_elf(&read_elf(path)?))
}

fn read_elf(path: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn in_file<T>(path: &Path, result: Result<T, ElfError>) -> Result<T, Error> {
    result.map_err(|source| Error::Elf {
        path: path.to_path_buf(),
        source,
    })
}

/// Builds `binary` of the firmware crate `crate_dir` (with `features`, if
/// any) for [`TARGET`] in release into `target_dir`, and returns the ELF's
/// path. It runs from the crate's directory so that cargo finds the crate's
/// own workspace and `.cargo/config.toml`; target and target dir are passed
/// explicitly so that the environment (CARGO_TARGET_DIR, CARGO_BUILD_TARGET)
/// cannot send the ELF elsewhere. The footprint images, the QEMU sample and
/// the `tcp-mcu` bench firmware are all built this way.
pub fn build_firmware(
    crate_dir: &Path,
    target_dir: &Path,
    binary: &str,
    features: Option<&str>,
) -> Result<PathBuf, cmd::Error> {
    build_firmware_configured(crate_dir, target_dir, binary, features, &[])
}

/// [`build_firmware`] with cargo `--config` settings (`KEY=VALUE`, as cargo
/// takes them) over the crate's own: another profile or other rustflags for
/// the same firmware. Give each configuration its own `target_dir`, or
/// every switch between them rebuilds everything.
pub fn build_firmware_configured(
    crate_dir: &Path,
    target_dir: &Path,
    binary: &str,
    features: Option<&str>,
    config: &[&str],
) -> Result<PathBuf, cmd::Error> {
    let mut cargo = cmd::cargo();
    cargo
        .current_dir(crate_dir)
        .args(["build", "--release", "--bin", binary]);
    if let Some(features) = features {
        cargo.args(["--features", features]);
    }
    for setting in config {
        cargo.args(["--config", setting]);
    }
    cmd::run(
        cargo
            .args(["--target", TARGET, "--target-dir"])
            .arg(target_dir),
    )?;
    Ok(target_dir.join(TARGET).join("release").join(binary))
}

/// Builds every image and the size table, then prints their lines.
pub fn run(root: &Path) -> Result<(), cmd::Error> {
    let target_dir = root.join(TARGET_DIR);
    for (binary, features) in IMAGES.iter().chain([&SIZES_BINARY, &SIZES_DEFAULT_BINARY]) {
        build_firmware(&root.join(IMAGE_CRATE), &target_dir, binary, Some(features))?;
    }
    let elf_dir = target_dir.join(TARGET).join("release");
    for (image, _) in IMAGES {
        let path = elf_dir.join(image);
        let elf = read_elf(&path)?;
        in_file(&path, check_no_memmove(&elf))?;
        let footprint = in_file(&path, Footprint::of_elf(&elf))?;
        println!("{}", footprint.line(image));
    }
    let path = elf_dir.join(SIZES_BINARY.0);
    for (type_name, bytes) in in_file(&path, size_table(&read_elf(&path)?))? {
        println!("{}", size_line(&type_name, bytes));
    }
    let path = elf_dir.join(SIZES_DEFAULT_BINARY.0);
    for (type_name, bytes) in in_file(&path, size_table(&read_elf(&path)?))? {
        if SIZES_BY_FEATURES.contains(&type_name.as_str()) {
            println!("{}", size_line_with(&type_name, "default", bytes));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_classify_by_output_section_name() {
        assert_eq!(classify(".vector_table"), Some(Class::Text));
        assert_eq!(classify(".text"), Some(Class::Text));
        assert_eq!(classify(".text.main"), Some(Class::Text));
        assert_eq!(classify(".gnu.sgstubs"), Some(Class::Text));
        assert_eq!(classify(".rodata"), Some(Class::Rodata));
        assert_eq!(classify(".rodata.str1.1"), Some(Class::Rodata));
        assert_eq!(classify(".data"), Some(Class::Data));
        assert_eq!(classify(".bss"), Some(Class::Bss));
        assert_eq!(classify(".uninit"), Some(Class::Bss));
        for other in [
            ".comment",
            ".ARM.attributes",
            ".symtab",
            ".debug_info",
            ".datarel",
            ".bssx",
        ] {
            assert_eq!(classify(other), None, "{other}");
        }
    }

    /// The section table of a cortex-m-rt image as `readelf -S` shows it.
    const CORTEX_M_SECTIONS: &[(&str, u64, bool)] = &[
        (".vector_table", 0x400, true),
        (".text", 0x5ec, true),
        (".rodata", 0x40, true),
        (".data", 0x8, true),
        (".gnu.sgstubs", 0, true),
        (".bss", 0x30, true),
        (".uninit", 0x10, true),
        (".comment", 0x8b, false),
        (".ARM.attributes", 0x3a, false),
        (".symtab", 0x430, false),
    ];

    #[test]
    fn footprint_totals_each_class_and_formats_one_line() {
        let footprint = Footprint::of_sections(CORTEX_M_SECTIONS.iter().copied()).unwrap();
        assert_eq!(
            footprint,
            Footprint {
                text: 0x9ec,
                rodata: 0x40,
                data: 8,
                bss: 0x40
            }
        );
        assert_eq!(
            footprint.line("ipv4-udp"),
            "footprint ipv4-udp text=2540 rodata=64 data=8 bss=64"
        );
        assert_eq!(
            size_line("duet_netstack::rand::Rng", 16),
            "size_of duet_netstack::rand::Rng bytes=16"
        );
        assert_eq!(
            size_line_with("duet_netstack::tcp::TcpSocket", "default", 292),
            "size_of duet_netstack::tcp::TcpSocket features=default bytes=292"
        );
        // Each type printed again must be one the table holds.
        let table = std::fs::read_to_string(
            crate::workspace_root().join("xtask/footprint-image/src/bin/sizes.rs"),
        )
        .unwrap();
        for type_name in SIZES_BY_FEATURES {
            assert!(
                table.contains(&format!("    {type_name},\n")),
                "{type_name}"
            );
        }
    }

    #[test]
    fn an_allocated_section_of_no_class_is_an_error_not_a_silent_zero() {
        let mut sections = CORTEX_M_SECTIONS.to_vec();
        sections.push((".ARM.exidx", 0x20, true));
        sections.push((".empty_alloc", 0, true));
        match Footprint::of_sections(sections) {
            Err(ElfError::Unclassified(names)) => assert_eq!(names, [".ARM.exidx"]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn decoders_follow_byte_order_and_strip_stringify_spaces() {
        let bytes = [1, 0, 0, 0, 0, 0, 1, 0, 9];
        assert_eq!(decode_u32s(&bytes, true), [1, 0x0001_0000]);
        assert_eq!(decode_u32s(&bytes, false), [0x0100_0000, 0x100]);
        let names = b"duet_netstack::time::Instant\nduet_netstack :: rand :: Rng\n";
        assert_eq!(
            decode_names(names),
            ["duet_netstack::time::Instant", "duet_netstack::rand::Rng"]
        );
    }

    /// Read from this very test binary, the way xtask reads `DUET_SIZES`
    /// from the firmware: a mangled static found by substring.
    static XTASK_TEST_TABLE: [u32; 3] = [7, 0x0102_0304, u32::MAX];

    #[test]
    fn memmove_is_told_apart_from_the_module_that_replaces_it() {
        for name in [
            "memmove",
            "__aeabi_memmove",
            "__aeabi_memmove4",
            "__aeabi_memmove8",
            "_RNvNtCs7NhdfSRABLd_17compiler_builtins3mem7memmove",
            "_ZN17compiler_builtins3mem7memmove17h0123456789abcdefE",
        ] {
            assert!(is_memmove(name), "{name}");
        }
        for name in [
            "memcpy",
            "__aeabi_memcpy4",
            "_RINvNtCs1a2b3c_13duet_netstack10no_memmove11copy_withinhEB4_",
            "_ZN13duet_netstack10no_memmove11copy_within17h0123456789abcdefE",
        ] {
            assert!(!is_memmove(name), "{name}");
        }
        // The host's xtask only refers to the C library's memmove: a
        // reference is not a definition.
        let elf = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        assert!(check_no_memmove(&elf).is_ok());
    }

    #[test]
    fn symbol_bytes_reads_a_static_from_a_real_elf() {
        std::hint::black_box(&XTASK_TEST_TABLE);
        let elf = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let file = object::File::parse(&*elf).unwrap();
        let bytes = symbol_bytes(&file, "XTASK_TEST_TABLE").unwrap();
        assert_eq!(
            decode_u32s(bytes, file.is_little_endian()),
            XTASK_TEST_TABLE
        );
        assert!(matches!(
            symbol_bytes(&file, "NO_SUCH_SYMBOL_IN_XTASK"),
            Err(ElfError::MissingSymbol(_))
        ));
        // A host executable has allocated sections (`.eh_frame` and the
        // like) that no firmware class covers: reported, not ignored.
        assert!(
            matches!(Footprint::of_elf(&elf), Err(ElfError::Unclassified(names)) if !names.is_empty())
        );
        assert!(matches!(
            Footprint::of_elf(b"not an elf"),
            Err(ElfError::Parse(_))
        ));
    }
}
