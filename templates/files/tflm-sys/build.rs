// Compiles the TFLM library (the files upstream's own Makefile builds, listed in
// tflm-sources.txt) and the C shim for cargo's TARGET, through the `cc` crate.
//
// - Sources: the package's own `vendor/` folder (checked against vendor/MANIFEST.tsv
//   first), else TFLM_SYS_SOURCE_DIR, else bindbot's cache (`bindbot sources`, for work
//   inside the bindbot repository). Never the network.
// - Flags: the `cc` crate's for the target (CC/CXX/CFLAGS/CXXFLAGS/CC_<target> honoured,
//   -march/-mthumb/-mfloat-abi/-mfpu for every thumb triple), plus upstream's Makefile
//   flags and -fno-short-enums, so C enums are as wide as bindgen's bindings say.
// - Per-op cargo features (`op-*`, all on by default): a kernel file is compiled only when
//   a feature that needs it is on.
// - On bare-metal targets the C and C++ runtime TFLM needs (newlib-nano, libm, libgcc,
//   libstdc++-nano) is linked from the cross compiler's own multilib, so an application
//   needs no build script.
// - Objects are cached by compiler, flags and the bytes of every file a source includes
//   (in OUT_DIR, or TFLM_SYS_OBJECT_CACHE to share them between target folders), so
//   changing one upstream file recompiles that file, not the library.
// - TFLM_SYS_DOCS_ONLY=1 (or DOCS_RS) compiles nothing, for documentation builds.
use std::collections::{BTreeSet, HashMap};
use std::env;
use std::fs;
use std::path::{Path, PathBuf};

const SOURCES: &str = include_str!("tflm-sources.txt");
/// The include path, relative to the source root (bindbot's vendor scan follows the same).
const INCLUDE_DIRS: [&str; 5] = [
    "tflm",
    "deps/flatbuffers/include",
    "deps/gemmlowp",
    "deps/kissfft",
    "deps/ruy",
];
const COMMON_FLAGS: &[&str] = &[
    "-fno-unwind-tables",
    "-fno-asynchronous-unwind-tables",
    "-ffunction-sections",
    "-fdata-sections",
    "-DTF_LITE_STATIC_MEMORY",
];
const CXX_FLAGS: &[&str] = &[
    "-std=c++17",
    "-fno-rtti",
    "-fno-exceptions",
    "-fno-threadsafe-statics",
];
/// What the Makefile adds for Cortex-M, and the enum width every target must agree on.
/// Not upstream's -DTF_LITE_MCU_DEBUG_LOG: it makes TFLITE_ABORT an endless loop of its
/// own, where the shim's guard needs the call to abort().
const BARE_METAL_FLAGS: &[&str] = &["-DTFLM_SHIM_BARE_METAL", "-funsigned-char"];
const ENUM_FLAGS: &[&str] = &["-fno-short-enums"];
/// Files compiled per `cc` call: small enough for progress, large enough to keep every
/// job token busy.
const CHUNK: usize = 24;

fn main() {
    for var in [
        "TFLM_SYS_SOURCE_DIR",
        "TFLM_SYS_DOCS_ONLY",
        "TFLM_SYS_OBJECT_CACHE",
        "DOCS_RS",
        "BINDBOT_CACHE",
        "XDG_CACHE_HOME",
    ] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    // cc reads these, but with cargo_metadata(false) it does not say so: a new CXXFLAGS
    // (a sanitizer, say) must rebuild, or a stale library would be linked.
    let target = env::var("TARGET").unwrap_or_default();
    for var in ["CC", "CXX", "CFLAGS", "CXXFLAGS", "AR", "CRATE_CC_NO_DEFAULTS"] {
        println!("cargo:rerun-if-env-changed={var}");
        println!("cargo:rerun-if-env-changed={var}_{target}");
        println!("cargo:rerun-if-env-changed={var}_{}", target.replace('-', "_"));
        println!("cargo:rerun-if-env-changed=TARGET_{var}");
    }
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=tflm-sources.txt");
    println!("cargo:rerun-if-changed=shim");
    println!("cargo:rerun-if-changed=layout.cc");
    // Only when there: cargo reruns a script on every build for a path that is missing.
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    if manifest.join("vendor/MANIFEST.tsv").is_file() {
        println!("cargo:rerun-if-changed=vendor/MANIFEST.tsv");
    }
    println!("cargo::rustc-check-cfg=cfg(tflm_docs_only)");
    if env::var_os("TFLM_SYS_DOCS_ONLY").is_some() || env::var_os("DOCS_RS").is_some() {
        // No C compiler runs, so there is nothing to check the layouts against.
        println!("cargo:rustc-cfg=tflm_docs_only");
        return;
    }
    if let Err(message) = build() {
        // One clear line, not a backtrace: this is what a user sees first.
        eprintln!("error: tflm-sys: {message}");
        std::process::exit(1);
    }
}

fn build() -> Result<(), String> {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    let target = env::var("TARGET").unwrap();
    let bare_metal = env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("none");
    check_target(&target, bare_metal)?;
    let listing = Listing::parse(SOURCES)?;
    let root = source_dir(&manifest, &listing.commit)?;
    let enabled = enabled_features(&listing);

    let includes: Vec<PathBuf> = INCLUDE_DIRS.iter().map(|d| root.join(d)).collect();
    let ops: Vec<String> = enabled
        .iter()
        .filter_map(|f| f.strip_prefix("op-"))
        .map(|op| format!("TFLM_OP_{}", op.to_uppercase().replace('-', "_")))
        .collect();
    let config = |cpp: bool, opt: &str| {
        let mut b = cc::Build::new();
        b.cpp(cpp)
            .opt_level_str(opt)
            .warnings(false)
            .cargo_metadata(false)
            .cargo_warnings(false);
        for f in COMMON_FLAGS.iter().chain(ENUM_FLAGS) {
            b.flag(f);
        }
        if cpp {
            for f in CXX_FLAGS {
                b.flag(f);
            }
        }
        if bare_metal {
            for f in BARE_METAL_FLAGS {
                b.flag(f);
            }
        }
        // Objects name the sources relative to the root: the same bytes wherever the
        // sources are, so cached objects are shared between copies of the crate.
        b.flag(format!("-ffile-prefix-map={}=tflm-src", root.display()));
        for dir in &includes {
            b.include(dir);
        }
        b
    };

    // TFLM's TFLITE_ABORT/TFLITE_DCHECK and assert() go to shim/tflm_guard.cc (see
    // shim/tflm_redirect.h), which turns a kernel assertion inside an interpreter call into
    // an error instead of stopping the program. Kernel assertions stay on (no NDEBUG):
    // without them kernels read out of bounds where they would have stopped.
    let redirect = manifest.join("shim/tflm_redirect.h");
    let guarded = |mut b: cc::Build| {
        b.flag("-include").flag(redirect.to_str().unwrap_or_default());
        b
    };
    let mut groups: Vec<(cc::Build, Vec<PathBuf>)> = Vec::new();
    for (kernel, opt) in [(false, "s"), (true, "2")] {
        let files: Vec<PathBuf> = listing
            .files
            .iter()
            .filter(|f| f.kernel == kernel && f.wanted(&enabled))
            .map(|f| root.join("tflm").join(&f.path))
            .collect();
        groups.push((guarded(config(true, opt)), files));
    }
    let mut shim = guarded(config(true, "s"));
    shim.include(manifest.join("shim"));
    for op in &ops {
        shim.define(op, None);
    }
    let mut shim_files = vec![
        manifest.join("shim/tflm_shim.cc"),
        manifest.join("shim/tflm_signal_checks.cc"),
        manifest.join("shim/tflm_model_names.cc"),
    ];
    if bare_metal {
        shim_files.push(manifest.join("shim/tflm_runtime.cc"));
    }
    layout_probe(&shim, &manifest.join("layout.cc"), &out)?;
    let mut guard = config(true, "s");
    guard.include(manifest.join("shim"));
    groups.push((shim, shim_files));
    groups.push((guard, vec![manifest.join("shim/tflm_guard.cc")]));

    // Objects are kept by content: in OUT_DIR by default, so a rebuild after one upstream
    // file changed compiles that file only (cargo reruns the whole script), or in a folder
    // shared by every target directory.
    let cache = env::var_os("TFLM_SYS_OBJECT_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| out.join("objects"))
        .join(&target);
    let cache = Some(cache);
    let mut compiler = Compiler::new(&root, &manifest, cache)?;
    let total: usize = groups.iter().map(|(_, f)| f.len()).sum();
    let mut objects = Vec::new();
    for (build, files) in &groups {
        objects.extend(compiler.compile(build, files, total)?);
    }
    for path in &compiler.watched {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    println!(
        "cargo:warning=tflm-sys: compiled {} of {total} files ({} from cache); ops: {}",
        compiler.compiled,
        total - compiler.compiled,
        if listing.all_ops(&enabled) {
            "all".to_string()
        } else {
            ops.len().to_string()
        }
    );
    let lib = out.join("libtflm.a");
    archive(&groups[0].0, &objects, &lib)?;
    println!("cargo:rustc-link-search=native={}", out.display());
    println!("cargo:rustc-link-lib=static=tflm");
    if bare_metal {
        link_runtime(&groups[0].0)?;
    } else if target.contains("apple") || target.contains("freebsd") {
        println!("cargo:rustc-link-lib=c++");
    } else {
        println!("cargo:rustc-link-lib=stdc++");
    }
    println!("cargo:include={}", manifest.join("shim").display());
    println!("cargo:root={}", root.display());
    Ok(())
}

/// Hosted targets use cc's flags; bare metal is supported on Arm's Thumb targets, whose
/// core, float ABI and FPU cc derives from the triple. Anything else would compile TFLM
/// with guesses, so it stops here (the layout checks would catch a wrong guess later, with
/// a far less helpful message).
fn check_target(target: &str, bare_metal: bool) -> Result<(), String> {
    if bare_metal && !(target.starts_with("thumb") && target.contains("-none-eabi")) {
        return Err(format!(
            "target {target} is not supported: on bare metal, tflm-sys builds for Arm's \
             thumbv*-none-eabi* targets (for example thumbv7em-none-eabihf). Hosted targets \
             (Linux, macOS, Windows) build with the host's C++ compiler."
        ));
    }
    Ok(())
}

/// One library file and the cargo features that want it (none: always compiled).
struct Source {
    path: String,
    kernel: bool,
    features: Vec<String>,
}

impl Source {
    fn wanted(&self, enabled: &BTreeSet<String>) -> bool {
        self.features.is_empty() || self.features.iter().any(|f| enabled.contains(f))
    }
}

struct Listing {
    commit: String,
    files: Vec<Source>,
    features: BTreeSet<String>,
}

impl Listing {
    /// tflm-sources.txt: `# commit SHA`, then one `path [kernel] [feature...]` per line.
    fn parse(text: &str) -> Result<Listing, String> {
        let mut commit = String::new();
        let mut files = Vec::new();
        let mut features = BTreeSet::new();
        for line in text.lines().map(str::trim) {
            if let Some(sha) = line.strip_prefix("# commit ") {
                commit = sha.trim().to_string();
            }
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut words = line.split_whitespace();
            let path = words.next().unwrap().to_string();
            let mut kernel = false;
            let mut wants = Vec::new();
            for w in words {
                if w == "kernel" {
                    kernel = true;
                } else {
                    features.insert(w.to_string());
                    wants.push(w.to_string());
                }
            }
            files.push(Source {
                path,
                kernel,
                features: wants,
            });
        }
        if commit.is_empty() {
            return Err("tflm-sources.txt has no `# commit` line: regenerate the crate".into());
        }
        Ok(Listing {
            commit,
            files,
            features,
        })
    }

    fn all_ops(&self, enabled: &BTreeSet<String>) -> bool {
        self.features.iter().all(|f| enabled.contains(f))
    }
}

/// The `op-*` features cargo turned on (CARGO_FEATURE_OP_ADD for `op-add`).
fn enabled_features(listing: &Listing) -> BTreeSet<String> {
    let mut all: BTreeSet<String> = listing.features.clone();
    all.extend(ops_from_cargo());
    all.into_iter()
        .filter(|f| {
            let var = format!("CARGO_FEATURE_{}", f.to_uppercase().replace('-', "_"));
            env::var_os(var).is_some()
        })
        .collect()
}

/// Op features the shim gates without a kernel file of their own (an op whose kernel
/// lives in an always-compiled file still gets its `TFLM_OP_*` define).
fn ops_from_cargo() -> Vec<String> {
    env::vars()
        .filter_map(|(k, _)| k.strip_prefix("CARGO_FEATURE_OP_").map(str::to_string))
        .map(|rest| format!("op-{}", rest.to_lowercase().replace('_', "-")))
        .collect()
}

/// Where the pinned sources are, checked against the manifest when vendored.
/// A header's bytes without bindbot's generation stamp lines, which name the template
/// revision: regenerating the crate must not recompile every file that includes a shim
/// header whose code did not change.
fn unstamped(bytes: Vec<u8>) -> Vec<u8> {
    const STAMP: &[u8] = b"@generated by bindbot";
    const COPIED: &[u8] = b"Copied from templates/files/";
    let has = |text: &[u8], what: &[u8]| text.windows(what.len()).any(|w| w == what);
    if !has(&bytes, STAMP) {
        return bytes;
    }
    bytes
        .split_inclusive(|&b| b == b'\n')
        .filter(|line| !has(line, STAMP) && !has(line, COPIED))
        .flatten()
        .copied()
        .collect()
}

fn source_dir(manifest: &Path, commit: &str) -> Result<PathBuf, String> {
    let mut tried = Vec::new();
    if let Some(dir) = env::var_os("TFLM_SYS_SOURCE_DIR") {
        let dir = PathBuf::from(dir);
        if dir.join("tflm").is_dir() {
            return Ok(dir);
        }
        tried.push(dir);
    }
    let vendor = manifest.join("vendor");
    if vendor.join("MANIFEST.tsv").is_file() {
        check_vendor(&vendor)?;
        return Ok(vendor);
    }
    tried.push(vendor);
    let cache = env::var_os("BINDBOT_CACHE")
        .map(PathBuf::from)
        .or_else(|| env::var_os("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("bindbot")))
        .or_else(|| env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/bindbot")));
    if let Some(cache) = cache {
        let dir = cache.join("src").join(commit);
        if dir.join("tflm").is_dir() {
            return Ok(dir);
        }
        tried.push(dir);
    }
    Err(format!(
        "the TFLM sources for tflite-micro {commit} are not at {tried:?}. The published \
         crate carries them in vendor/; in the bindbot repository run `bindbot sources` \
         (it exports them into bindbot's cache), or set TFLM_SYS_SOURCE_DIR to a folder \
         holding tflm/ and deps/; set TFLM_SYS_DOCS_ONLY=1 to build documentation without C++."
    ))
}

/// Every vendored file must have the bytes the manifest records: a package edited or
/// damaged after bindbot made it would otherwise build something nobody reviewed.
fn check_vendor(vendor: &Path) -> Result<(), String> {
    let text = fs::read_to_string(vendor.join("MANIFEST.tsv"))
        .map_err(|e| format!("cannot read vendor/MANIFEST.tsv: {e}"))?;
    for line in text.lines().filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let mut cols = line.split('\t');
        let (Some(digest), Some(rel)) = (cols.next(), cols.next()) else {
            return Err(format!("vendor/MANIFEST.tsv: malformed line `{line}`"));
        };
        let bytes = fs::read(vendor.join(rel)).map_err(|e| {
            format!("vendored file vendor/{rel} is missing ({e}): reinstall the crate")
        })?;
        if sha256::hex(&bytes) != digest {
            return Err(format!(
                "vendored file vendor/{rel} differs from vendor/MANIFEST.tsv (sha256 {digest}): \
                 the package was modified after it was made; reinstall the crate, or set \
                 TFLM_SYS_SOURCE_DIR to build from other sources on purpose"
            ));
        }
    }
    Ok(())
}

/// Compiles layout.cc to assembly with the target's C++ compiler and writes the numbers in
/// its `tflm_layout` array to OUT_DIR/c_layout.rs, for the assertions in src/layout.rs.
fn layout_probe(build: &cc::Build, source: &Path, out: &Path) -> Result<(), String> {
    let tool = build.try_get_compiler().map_err(|e| e.to_string())?;
    let asm = out.join("layout.s");
    let output = tool
        .to_command()
        // A sanitizer's redzones would add data after the probe's array.
        .arg("-fno-sanitize=all")
        .arg("-S")
        .arg("-o")
        .arg(&asm)
        .arg(source)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", tool.path().display()))?;
    if !output.status.success() {
        return Err(format!(
            "compiling the layout probe failed:\n{}",
            errors_first(&String::from_utf8_lossy(&output.stderr))
        ));
    }
    let text = fs::read_to_string(&asm).map_err(|e| e.to_string())?;
    let mut values: Vec<u64> = Vec::new();
    let mut inside = false;
    for line in text.lines().map(str::trim) {
        if line == "tflm_layout:" {
            inside = true;
            continue;
        }
        if !inside {
            continue;
        }
        let mut parts = line.split_whitespace();
        match (parts.next(), parts.next().map(str::parse::<u64>)) {
            (Some(".word" | ".long" | ".4byte" | ".int"), Some(Ok(v))) => values.push(v),
            // gcc folds runs of zeros into one directive counting bytes.
            (Some(".zero" | ".space"), Some(Ok(bytes))) => {
                values.extend(std::iter::repeat(0).take(bytes as usize / 4))
            }
            _ => break,
        }
    }
    let list: Vec<String> = values.iter().map(u64::to_string).collect();
    fs::write(
        out.join("c_layout.rs"),
        format!(
            "/// Sizes, alignments and offsets of the bound C types, from the target's C compiler.\n\
             const C_LAYOUT: [u32; {}] = [{}];\n",
            values.len(),
            list.join(", ")
        ),
    )
    .map_err(|e| e.to_string())
}

/// The compiler's error lines first (then a little context), never a screen of warnings.
fn errors_first(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().collect();
    let mut picked: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.contains("error") || l.contains("Error"))
        .take(12)
        .collect();
    if picked.is_empty() {
        picked = lines.iter().rev().take(12).rev().copied().collect();
    }
    picked.join("\n")
}

/// The compiler's own messages for the first of `files` that does not compile. cc reports
/// only the command line when its warnings are off (they are: TFLM's warnings would bury
/// everything else), so the failing chunk is checked again file by file, syntax only.
fn diagnostics<'f>(build: &cc::Build, files: impl Iterator<Item = &'f PathBuf>) -> Option<String> {
    let tool = build.try_get_compiler().ok()?;
    for file in files {
        let mut command = tool.to_command();
        command.arg(if tool.is_like_msvc() { "/Zs" } else { "-fsyntax-only" });
        command.arg(file);
        let output = command.output().ok()?;
        if !output.status.success() {
            let text = String::from_utf8_lossy(&output.stderr).into_owned()
                + &String::from_utf8_lossy(&output.stdout);
            return Some(format!("{}:\n{}", file.display(), errors_first(&text)));
        }
    }
    None
}

/// Compiles groups of files through `cc`, consulting the object cache when there is one.
struct Compiler {
    root: String,
    manifest: String,
    cache: Option<PathBuf>,
    headers: HashMap<PathBuf, Option<Vec<u8>>>,
    watched: BTreeSet<PathBuf>,
    compiled: usize,
    done: usize,
    progress: Option<PathBuf>,
}

impl Compiler {
    fn new(root: &Path, manifest: &Path, cache: Option<PathBuf>) -> Result<Self, String> {
        if let Some(dir) = &cache {
            fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create the object cache {}: {e}", dir.display()))?;
        }
        Ok(Compiler {
            root: root.display().to_string(),
            manifest: manifest.display().to_string(),
            cache,
            headers: HashMap::new(),
            watched: BTreeSet::new(),
            compiled: 0,
            done: 0,
            // A file a supervising tool (bindbot verify) polls for "files done of total":
            // cargo shows nothing of a build script until it ends. Deliberately not a
            // rerun-if-env input, so pointing it elsewhere never rebuilds anything.
            progress: env::var_os("TFLM_SYS_PROGRESS").map(PathBuf::from),
        })
    }

    /// An argument or path as the cache records it: the source root and the crate folder
    /// replaced by placeholders wherever they occur (`-I/root/tflm`, `-ffile-prefix-map=
    /// /root=...`), so copies of the crate in other folders share the cached objects.
    fn portable(&self, path: &Path) -> String {
        path.display()
            .to_string()
            .replace(&self.root, "$ROOT")
            .replace(&self.manifest, "$CRATE")
    }

    fn local(&self, text: &str) -> PathBuf {
        if let Some(rest) = text.strip_prefix("$ROOT") {
            PathBuf::from(format!("{}{rest}", self.root))
        } else if let Some(rest) = text.strip_prefix("$CRATE") {
            PathBuf::from(format!("{}{rest}", self.manifest))
        } else {
            PathBuf::from(text)
        }
    }

    fn command_key(&self, tool: &cc::Tool, source: &Path) -> sha256::Sha256 {
        let mut d = sha256::Sha256::new();
        d.update(tool.path().as_os_str().as_encoded_bytes());
        for a in tool.args() {
            d.update(b"\0");
            d.update(self.portable(Path::new(a)).as_bytes());
        }
        d.update(b"\0");
        d.update(self.portable(source).as_bytes());
        d
    }

    fn header(&mut self, path: &Path) -> Option<Vec<u8>> {
        self.headers
            .entry(path.to_path_buf())
            .or_insert_with(|| fs::read(path).ok().map(unstamped))
            .clone()
    }

    fn content_key(&mut self, command: &sha256::Sha256, deps: &[PathBuf]) -> Option<String> {
        let mut d = command.clone();
        for dep in deps {
            d.update(b"\0");
            d.update(self.portable(dep).as_bytes());
            d.update(b"\0");
            d.update(&self.header(dep)?);
        }
        Some(d.hex())
    }

    fn report(&mut self, n: usize, total: usize) {
        self.done += n;
        if let Some(path) = &self.progress {
            let line = format!("{} {total} {}\n", self.done, self.compiled);
            // Progress is best effort: a failed write must not fail the build.
            let _ = fs::write(path, line);
        }
    }

    fn compile(
        &mut self,
        build: &cc::Build,
        files: &[PathBuf],
        total: usize,
    ) -> Result<Vec<PathBuf>, String> {
        let tool = build.try_get_compiler().map_err(|e| e.to_string())?;
        let mut objects: Vec<Option<PathBuf>> = vec![None; files.len()];
        let mut misses: Vec<usize> = Vec::new();
        for (i, file) in files.iter().enumerate() {
            let hit = self.cache.clone().and_then(|cache| {
                let command = self.command_key(&tool, file);
                let text = fs::read_to_string(cache.join(format!("{}.deps", command.hex()))).ok()?;
                let deps: Vec<PathBuf> = text.lines().map(|l| self.local(l)).collect();
                let obj = cache.join(format!("{}.o", self.content_key(&command, &deps)?));
                obj.is_file().then(|| {
                    self.watched.extend(deps);
                    obj
                })
            });
            match hit {
                Some(obj) => objects[i] = Some(obj),
                None => misses.push(i),
            }
        }
        self.report(files.len() - misses.len(), total);
        for chunk in misses.chunks(CHUNK) {
            let mut b = build.clone();
            b.flag("-MD");
            for &i in chunk {
                b.file(&files[i]);
            }
            let built = b.try_compile_intermediates().map_err(|e| {
                let why = diagnostics(build, chunk.iter().map(|&i| &files[i]))
                    .unwrap_or_else(|| errors_first(&e.to_string()));
                format!("compiling TFLM failed: {why}")
            })?;
            self.compiled += chunk.len();
            for (&i, obj) in chunk.iter().zip(built) {
                let deps = parse_depfile(&fs::read_to_string(obj.with_extension("d")).map_err(
                    |e| format!("{}: no dependency file: {e}", files[i].display()),
                )?);
                self.watched.extend(deps.iter().cloned());
                objects[i] = Some(self.store(&tool, &files[i], obj, &deps)?);
            }
            self.report(chunk.len(), total);
        }
        Ok(objects.into_iter().map(Option::unwrap).collect())
    }

    /// Keeps a freshly compiled object in the cache (when there is one), atomically: a
    /// concurrent build sees the whole object or none.
    fn store(
        &mut self,
        tool: &cc::Tool,
        source: &Path,
        obj: PathBuf,
        deps: &[PathBuf],
    ) -> Result<PathBuf, String> {
        let Some(cache) = self.cache.clone() else {
            return Ok(obj);
        };
        let command = self.command_key(tool, source);
        let Some(key) = self.content_key(&command, deps) else {
            return Ok(obj);
        };
        let pid = std::process::id();
        let cached = cache.join(format!("{key}.o"));
        let staged = cache.join(format!(".{key}.{pid}.o"));
        fs::copy(&obj, &staged).map_err(|e| e.to_string())?;
        fs::rename(&staged, &cached).map_err(|e| e.to_string())?;
        let list: String = deps
            .iter()
            .map(|d| format!("{}\n", self.portable(d)))
            .collect();
        let manifest = cache.join(format!("{}.deps", command.hex()));
        let staged = cache.join(format!(".{}.{pid}.deps", command.hex()));
        fs::write(&staged, list).map_err(|e| e.to_string())?;
        fs::rename(&staged, &manifest).map_err(|e| e.to_string())?;
        Ok(cached)
    }
}

fn parse_depfile(text: &str) -> Vec<PathBuf> {
    let joined = text.replace("\\\n", " ");
    let body = joined.split_once(": ").map(|(_, b)| b).unwrap_or("");
    body.split_whitespace().map(PathBuf::from).collect()
}

fn archive(build: &cc::Build, objects: &[PathBuf], lib: &Path) -> Result<(), String> {
    let _ = fs::remove_file(lib);
    let mut cmd = build.try_get_archiver().map_err(|e| e.to_string())?;
    let list = lib.with_extension("objects");
    let text: String = objects
        .iter()
        .map(|o| format!("\"{}\"\n", o.display()))
        .collect();
    fs::write(&list, text).map_err(|e| e.to_string())?;
    let status = cmd
        .arg("crs")
        .arg(lib)
        .arg(format!("@{}", list.display()))
        .status()
        .map_err(|e| format!("cannot run the archiver: {e}"))?;
    if !status.success() {
        return Err(format!("archiving {} failed", lib.display()));
    }
    Ok(())
}

/// Links what TFLM needs from the cross toolchain's C and C++ runtime, from the multilib
/// the C compiler picks for this target's flags: newlib-nano's libc (memcpy, vsnprintf,
/// qsort...), libm (expf, logf...), libsupc++-nano for the few C++ runtime pieces, libgcc
/// (soft-float and division helpers, smaller than compiler_builtins' generic ones) and
/// libnosys (system call stubs: TFLM never does I/O, its log goes to Rust).
fn link_runtime(build: &cc::Build) -> Result<(), String> {
    let tool = build.try_get_compiler().map_err(|e| e.to_string())?;
    let mut dirs = BTreeSet::new();
    for file in ["libc_nano.a", "libsupc++_nano.a", "libgcc.a"] {
        let output = tool
            .to_command()
            .arg(format!("-print-file-name={file}"))
            .output()
            .map_err(|e| format!("cannot run {}: {e}", tool.path().display()))?;
        let path = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
        // gcc prints the bare name back when its multilib has no such file.
        if !path.is_absolute() || !path.is_file() {
            return Err(format!(
                "{} has no {file} for these flags: install the cross toolchain's C \
                 libraries (Debian: gcc-arm-none-eabi libnewlib-arm-none-eabi \
                 libstdc++-arm-none-eabi-newlib; Arm GNU Toolchain: included), or set \
                 CC_<target>/CXX_<target> to one that has them",
                tool.path().display()
            ));
        }
        dirs.insert(path.parent().unwrap().to_path_buf());
    }
    for dir in dirs {
        println!("cargo:rustc-link-search=native={}", dir.display());
    }
    // -bundle: rustc hands `-lc_nano` etc. to the application's final link instead of
    // copying whole archives into this crate's rlib. The linker (rust-lld or GNU ld via
    // gcc) then takes only the members TFLM references.
    for lib in ["supc++_nano", "m", "c_nano", "gcc", "nosys"] {
        println!("cargo:rustc-link-lib=static:-bundle={lib}");
    }
    Ok(())
}

/// SHA-256 (FIPS 180-4), small enough to keep the build script free of dependencies.
mod sha256 {
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];

    #[derive(Clone)]
    pub struct Sha256 {
        state: [u32; 8],
        block: Vec<u8>,
        length: u64,
    }

    impl Sha256 {
        pub fn new() -> Self {
            Sha256 {
                state: [
                    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c,
                    0x1f83d9ab, 0x5be0cd19,
                ],
                block: Vec::with_capacity(64),
                length: 0,
            }
        }

        pub fn update(&mut self, mut bytes: &[u8]) {
            self.length += bytes.len() as u64;
            while !bytes.is_empty() {
                let take = (64 - self.block.len()).min(bytes.len());
                self.block.extend_from_slice(&bytes[..take]);
                bytes = &bytes[take..];
                if self.block.len() == 64 {
                    let block: [u8; 64] = self.block[..].try_into().unwrap();
                    compress(&mut self.state, &block);
                    self.block.clear();
                }
            }
        }

        pub fn hex(&self) -> String {
            let mut s = self.clone();
            let bits = s.length * 8;
            s.update(&[0x80]);
            while s.block.len() != 56 {
                s.update(&[0]);
            }
            s.update(&bits.to_be_bytes());
            s.state.iter().map(|w| format!("{w:08x}")).collect()
        }
    }

    fn compress(state: &mut [u32; 8], block: &[u8; 64]) {
        let mut w = [0u32; 64];
        for i in 0..16 {
            w[i] = u32::from_be_bytes(block[i * 4..i * 4 + 4].try_into().unwrap());
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16]
                .wrapping_add(s0)
                .wrapping_add(w[i - 7])
                .wrapping_add(s1);
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut h] = *state;
        for i in 0..64 {
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = h
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(K[i])
                .wrapping_add(w[i]);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(maj);
            h = g;
            g = f;
            f = e;
            e = d.wrapping_add(t1);
            d = c;
            c = b;
            b = a;
            a = t1.wrapping_add(t2);
        }
        for (s, v) in state.iter_mut().zip([a, b, c, d, e, f, g, h]) {
            *s = s.wrapping_add(v);
        }
    }

    pub fn hex(bytes: &[u8]) -> String {
        let mut d = Sha256::new();
        d.update(bytes);
        d.hex()
    }
}
