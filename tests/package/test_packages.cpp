// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
// The Debian packages on a real machine: scripts/package builds them from
// this build, apt installs them, and then everything runs from the installed
// files only, as a new administrator would run them:
//   - slapd from the installed example slapd.conf placed at /etc/ldap/slapd.conf,
//     loading the installed /usr/lib/ldap/tally.so and schema;
//   - then slapd from a cn=config database made the way "dpkg-reconfigure
//     slapd" makes it (Debian's slapd.init.ldif: its olcAccess rules, mdb for
//     dc=example,dc=com, run as openldap with ldapi:///), into which the
//     installed schema, module, overlay, ACL (tally-acl.ldif) and example
//     directory LDIFs are loaded with ldapadd/ldapmodify;
//   - the milter started the way its installed systemd unit says (ExecStart,
//     as User/Group, with its RuntimeDirectory; PID 1 here is not systemd),
//     a message driven through it with miltertest, the charge read back with
//     the installed tallyctl.
// Removal: tally-slapd's prerm refuses while slapd.conf or cn=config loads
// the module and names the commands; the test runs exactly those commands,
// then the purge succeeds, slapd starts again, and the milter was stopped
// by tallyd's prerm through its PID file (no systemd here).
//
// The machine's own /etc/ldap, /var/lib/ldap and /run are never touched: the
// test runs in a private mount namespace in which they are a copy of
// /etc/ldap, an empty folder and an empty tmpfs (it ends with the process,
// also a killed one). Everything else is undone too, also when an assertion
// fails (the guards below clean up), and after a run that was killed (a
// state file under /var/tmp says what to undo).
#include "slapd_fixture.h"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <thread>

using namespace tally;
using namespace tally::test;
namespace fs = std::filesystem;

namespace {

const std::vector<std::string> kPackages = {"tally-slapd", "tallyd", "tally-tools"};
const std::string kUser = "tallyd";
const std::string kUnit = "/lib/systemd/system/tallyd.service";
const std::string kConf = "/etc/tallyd/tallyd.conf";
const std::string kSecret = "/etc/tallyd/ldap.password";
const std::string kExamples = "/usr/share/doc/tally-slapd/examples";
const std::string kLock = "/run/lock/tally-package-test.lock";
const std::string kState = "/var/tmp/tally-package-test.state";  // "installed" [+ "user-created"]

struct Result {
    int rc;
    std::string out;
};

Result run(const std::vector<std::string> &argv) {
    TempDir d;
    int rc = run_command(argv, d.path + "/out");
    std::string out = read_text(d.path + "/out");
    // apt runs dpkg (and so the maintainer scripts) on a pseudo-terminal,
    // whose line ends are "\r\n": the lines as the administrator reads them.
    out.erase(std::remove(out.begin(), out.end(), '\r'), out.end());
    return {rc, out};
}

bool installed(const std::string &package) {
    return run({"/usr/bin/dpkg-query", "-W", "-f=${Status}", package}).out.find("install ok installed") !=
           std::string::npos;
}


/* unit_service - the [Service] settings of a systemd unit file */
std::map<std::string, std::string> unit_service(const std::string &path) {
    std::map<std::string, std::string> kv;
    std::istringstream in(read_text(path));
    std::string section;
    for (std::string line; std::getline(in, line);) {
        if (line.empty() || line[0] == '#') continue;
        if (line[0] == '[') {
            section = line;
            continue;
        }
        auto eq = line.find('=');
        if (section == "[Service]" && eq != std::string::npos) kv[line.substr(0, eq)] = line.substr(eq + 1);
    }
    return kv;
}

std::vector<std::string> words(const std::string &s) {
    std::istringstream in(s);
    std::vector<std::string> w;
    for (std::string x; in >> x;) w.push_back(x);
    return w;
}

/* start - argv as a Process with output to log, from /; as user/group when
 * given (supplementary groups, gid, uid in that order, as systemd's User=) */
Process start(const std::vector<std::string> &argv, const std::string &log, const passwd *as = nullptr, gid_t gid = 0) {
    SpawnOptions o;
    o.log = log;
    o.in_child = [as, gid] {
        if (as && (initgroups(as->pw_name, gid) != 0 || setgid(gid) != 0 || setuid(as->pw_uid) != 0)) _exit(126);
        if (chdir("/") != 0) _exit(126);
    };
    return Process(argv, o);
}

/* Installation - the packages on this machine; purge() restores the machine */
struct Installation {
    bool user_created = false;
    bool private_config = false;    // /etc/ldap is the test's copy (PrivateMounts)
    std::vector<pid_t> pids;        // slapd and the milter, for a later run to end if this one is killed
    std::vector<std::string> dirs;  // and the temporary folders, for it to remove
    std::string log;

    void write_state() const {
        std::ofstream f(kState);
        f << "installed\n" << (user_created ? "user-created\n" : "");
        for (pid_t p : pids) f << "pid " << p << "\n";
        for (const auto &d : dirs) f << "dir " << d << "\n";
    }

    /* recover - undo what a killed run left: its processes (when /proc still
     * names them ours), its packages, its user, its temporary folders */
    void recover() {
        std::istringstream in(read_text(kState));
        for (std::string line; std::getline(in, line);) {
            if (line == "user-created") user_created = true;
            if (line.rfind("dir /tmp/tally-test-", 0) == 0) {
                std::error_code ec;
                fs::remove_all(line.substr(4), ec);
            }
            if (line.rfind("pid ", 0) != 0) continue;
            pid_t p = std::stoi(line.substr(4));
            std::string cmd = read_text("/proc/" + std::to_string(p) + "/cmdline");
            if (cmd.rfind("/usr/sbin/slapd", 0) == 0 || cmd.rfind("/usr/sbin/tallyd", 0) == 0) kill(p, SIGKILL);
        }
        purge();
    }

    /* purge - remove the packages with their configuration, and the system
     * user when this test made it; idempotent */
    void purge() {
        std::vector<std::string> present;
        for (const auto &p : kPackages)
            if (installed(p) || run({"/usr/bin/dpkg-query", "-W", p}).rc == 0) present.push_back(p);
        if (!present.empty()) {
            std::vector<std::string> argv = {"/usr/bin/apt-get", "-o", "DPkg::Lock::Timeout=300", "purge", "-y", "-q"};
            argv.insert(argv.end(), present.begin(), present.end());
            auto r = run(argv);
            log += r.out;
            if (r.rc != 0) {  // apt refuses half-installed packages it cannot resolve: dpkg directly
                argv = {"/usr/bin/dpkg", "--purge"};
                argv.insert(argv.end(), present.begin(), present.end());
                log += run(argv).out;
            }
        }
        if (user_created) {
            if (getpwnam(kUser.c_str())) log += run({"/usr/sbin/deluser", "--system", kUser}).out;
            if (getgrnam(kUser.c_str())) log += run({"/usr/sbin/delgroup", "--system", kUser}).out;
        }
        bool clean = true;
        for (const auto &p : kPackages) clean = clean && run({"/usr/bin/dpkg-query", "-W", p}).rc != 0;
        if (clean) fs::remove(kState);
    }
    ~Installation() {
        try {
            // A failed run may leave the private configuration loading the
            // module, and tally-slapd's prerm would (rightly) refuse: purge
            // against the machine's own /etc/ldap, which never loaded it.
            if (private_config) umount2("/etc/ldap", MNT_DETACH);
            purge();
        } catch (...) {
        }
    }
};

/* Lock - one package test at a time on this machine, whatever build folder runs it */
struct Lock {
    int fd = -1;
    Lock() {
        fd = open(kLock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd >= 0 && flock(fd, LOCK_EX) != 0) {
            close(fd);
            fd = -1;
        }
    }
    ~Lock() {
        if (fd >= 0) close(fd);
    }
};

/* PrivateMounts - this process (and what it starts) in a mount namespace of
 * its own in which /etc/ldap is a copy of the machine's, /var/lib/ldap an
 * empty folder and /run an empty tmpfs: slapd's configuration, database and
 * ldapi socket at Debian's own paths, without touching the machine's. The
 * mounts end with the process. */
struct PrivateMounts {
    TempDir root;
    std::string error;
    bool ok = false;
    PrivateMounts() {
        if (unshare(CLONE_NEWNS) != 0) {
            error = std::string("unshare(CLONE_NEWNS): ") + strerror(errno);
            return;
        }
        // Nothing mounted here may reach the machine's namespace.
        if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
            error = std::string("making / private: ") + strerror(errno);
            return;
        }
        if (run({"/bin/cp", "-a", "/etc/ldap", root.path + "/etc-ldap"}).rc != 0) {
            error = "copying /etc/ldap";
            return;
        }
        fs::create_directories(root.path + "/var-lib-ldap");
        fs::create_directories("/var/lib/ldap");  // Debian's slapd package ships it
        if (mount((root.path + "/etc-ldap").c_str(), "/etc/ldap", nullptr, MS_BIND, nullptr) != 0 ||
            mount((root.path + "/var-lib-ldap").c_str(), "/var/lib/ldap", nullptr, MS_BIND, nullptr) != 0 ||
            mount("tmpfs", "/run", "tmpfs", 0, "mode=0755") != 0) {
            error = std::string("mount: ") + strerror(errno);
            return;
        }
        fs::create_directories("/run/lock");
        ok = true;
    }
};

/* wait_ldap - true once uri answers (an anonymous connection), while child lives */
bool wait_ldap(const std::string &uri, Process &child) {
    for (int i = 0; i < 400 && child.running(); ++i) {
        std::string err;
        client::ConnectOptions o;
        o.uri = uri;
        o.network_timeout_ms = 500;
        if (client::Connection::open(o, &err)) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
}

/* tally_processes - processes running the installed milter or mapping the
 * installed tally.so (other developers' tests run theirs from build folders) */
std::vector<std::string> tally_processes() {
    std::vector<std::string> found;
    for (const auto &e : fs::directory_iterator("/proc")) {
        std::string pid = e.path().filename();
        if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
        std::error_code ec;
        auto exe = fs::read_symlink(e.path() / "exe", ec);
        std::string state = read_text(e.path().string() + "/stat");
        auto close = state.rfind(')');
        if (close != std::string::npos && close + 2 < state.size() && state[close + 2] == 'Z') continue;
        if (!ec && exe.string().rfind("/usr/sbin/tallyd", 0) == 0) found.push_back(pid + " " + exe.string());
        if (read_text(e.path().string() + "/maps").find("/usr/lib/ldap/tally.so") != std::string::npos)
            found.push_back(pid + " maps /usr/lib/ldap/tally.so");
    }
    return found;
}

/* commands_of_step - the commands step `step` ("1. ...") of the prerm's
 * message tells the administrator to run: the lines from the first one in
 * column 0 after the step's heading up to the next heading or indented note */
std::string commands_of_step(const std::string &message, int step) {
    std::istringstream in(message);
    std::string out;
    const std::string heading = std::to_string(step) + ". ";
    bool inside = false, started = false;
    for (std::string line; std::getline(in, line);) {
        if (!inside) {
            inside = line.rfind(heading, 0) == 0;
            continue;
        }
        bool next_step = std::regex_search(line, std::regex("^[0-9]+\\. "));
        if (next_step || line.rfind("Details:", 0) == 0 || (started && line.rfind("   ", 0) == 0)) break;
        if (!started && (line.empty() || line[0] == ' ')) continue;
        started = true;
        out += line + "\n";
    }
    return out;
}

/* drive_one - one authenticated message through the milter; miltertest's verdict at end of data */
std::string drive_one(int port, const std::string &dir, const std::string &qid) {
    std::string script = dir + "/message.lua";
    std::ofstream(script) << "local conn = mt.connect('inet:" << port << "@127.0.0.1', 40, 0.05)\n"
                          << "if conn == nil then error('cannot connect to the milter') end\n"
                             "if mt.conninfo(conn, 'localhost', '127.0.0.1') ~= nil then error('conninfo') end\n"
                             "if mt.getreply(conn) ~= SMFIR_CONTINUE then error('connect refused') end\n"
                             "mt.macro(conn, SMFIC_MAIL, '{auth_authen}', 'alice')\n"
                             "if mt.mailfrom(conn, '<alice@example.com>') ~= nil then error('mailfrom') end\n"
                             "if mt.getreply(conn) ~= SMFIR_CONTINUE then error('mail refused') end\n"
                             "mt.macro(conn, SMFIC_RCPT, 'i', '"
                          << qid
                          << "')\n"
                             "if mt.rcptto(conn, '<someone@elsewhere.org>') ~= nil then error('rcptto') end\n"
                             "if mt.getreply(conn) ~= SMFIR_CONTINUE then error('rcpt refused') end\n"
                             "mt.header(conn, 'Subject', 'package test'); mt.getreply(conn)\n"
                             "mt.eoh(conn); mt.getreply(conn)\n"
                             "mt.bodystring(conn, 'hello\\r\\n'); mt.getreply(conn)\n"
                             "if mt.eom(conn) ~= nil then error('eom') end\n"
                             "local r = mt.getreply(conn)\n"
                             "mt.disconnect(conn)\n"
                             "if r == SMFIR_CONTINUE then mt.echo('VERDICT continue') else mt.echo('VERDICT other') end\n";
    auto r = run({"/usr/bin/miltertest", "-s", script});
    INFO("miltertest: " << r.out);
    REQUIRE(r.rc == 0);
    auto at = r.out.find("VERDICT ");
    REQUIRE(at != std::string::npos);
    return r.out.substr(at + 8, r.out.find('\n', at) - at - 8);
}

}  // namespace

TEST_CASE("the Debian packages install, run from their installed files and purge without a trace",
          "[package]") {
    REQUIRE(geteuid() == 0);  // dpkg, a system user, setuid to it
    Lock lock;
    REQUIRE(lock.fd >= 0);

    Installation inst;
    // Before anything can start a thread (unshare refuses in a threaded process).
    PrivateMounts mounts;
    INFO(mounts.error);
    REQUIRE(mounts.ok);
    inst.private_config = true;
    if (fs::exists(kState)) {  // a run that was killed: undo what it did
        inst.recover();
        INFO(inst.log);
        REQUIRE_FALSE(fs::exists(kState));
        inst.user_created = false;
        inst.log.clear();
    }
    for (const auto &p : kPackages) {
        INFO(p << " is installed on this machine and not by this test: it would be replaced and purged");
        REQUIRE(run({"/usr/bin/dpkg-query", "-W", p}).rc != 0);
    }
    inst.user_created = getpwnam(kUser.c_str()) == nullptr;

    // ---- build ----
    TempDir work;
    setenv("TALLY_BUILD_DIR", TALLY_BUILD_DIR, 1);
    auto built = run({"/bin/bash", TALLY_PACKAGE_SCRIPT, "--no-build", work.path + "/debs"});
    INFO(built.out);
    REQUIRE(built.rc == 0);
    std::map<std::string, std::string> deb;  // package -> file
    for (const auto &e : fs::directory_iterator(work.path + "/debs")) {
        std::string name = e.path().filename();
        deb[name.substr(0, name.find('_'))] = e.path();
    }
    REQUIRE(deb.size() == 3);
    for (const auto &p : kPackages) REQUIRE(deb.count(p));
    auto field = [&](const std::string &package, const std::string &f) {
        auto r = run({"/usr/bin/dpkg-deb", "-f", deb[package], f});
        REQUIRE(r.rc == 0);
        return r.out;
    };
    CHECK_THAT(field("tally-slapd", "Depends"),
               Catch::StartsWith(std::string("slapd (= ") + TALLY_SLAPD_VERSION + ")"));
    CHECK_THAT(field("tallyd", "Depends"), Catch::Contains("adduser") && Catch::Contains("libmilter"));

    // ---- install: nothing but our three packages may come with them ----
    std::vector<std::string> install = {"/usr/bin/apt-get", "-o", "DPkg::Lock::Timeout=300", "install", "-y", "-q",
                                        "--no-install-recommends"};
    for (const auto &p : kPackages) install.push_back(deb[p]);
    auto simulate = install;
    simulate.insert(simulate.begin() + 4, "-s");
    auto sim = run(simulate);
    INFO(sim.out);
    REQUIRE(sim.rc == 0);
    std::regex inst_line("^Inst (\\S+)");
    std::istringstream sim_lines(sim.out);
    for (std::string line; std::getline(sim_lines, line);) {
        std::smatch m;
        // nothing but our own packages (tally-slapd, tally-tools, tallyd) is installed
        if (std::regex_search(line, m, inst_line)) REQUIRE_THAT(m[1].str(), Catch::StartsWith("tally"));
    }
    inst.write_state();
    auto ins = run(install);
    INFO(ins.out);
    REQUIRE(ins.rc == 0);
    for (const auto &p : kPackages) REQUIRE(installed(p));

    // ---- files ----
    for (const std::string f :
         {"/usr/lib/ldap/tally.so", "/usr/share/tally/schema/tally.schema", "/usr/share/tally/schema/tally.ldif",
          "/usr/sbin/tallyd", "/usr/bin/tallyctl", kConf.c_str(), kUnit.c_str(),
          "/usr/share/man/man5/slapo-tally.5.gz", "/usr/share/man/man8/tallyd.8.gz",
          "/usr/share/man/man5/tallyd.conf.5.gz", "/usr/share/man/man1/tallyctl.1.gz",
          "/usr/share/doc/tallyd/examples/tallyd.conf", "/usr/share/doc/tally-slapd/examples/slapd.conf",
          "/usr/share/doc/tally-slapd/examples/tally-acl.conf", "/usr/share/doc/tally-slapd/examples/tally-module.ldif",
          "/usr/share/doc/tally-slapd/examples/tally-overlay.ldif"})
        CHECK(fs::is_regular_file(f));
    for (const std::string f : {"tally-acl.ldif", "tally-directory-example.ldif", "tally-acl.conf"}) {
        INFO(f);
        CHECK(read_text(kExamples + "/" + f) == read_text(source_path("slapd-conf/" + f)));
    }
    for (const std::string p : {"tally-slapd", "tallyd", "tally-tools"}) {
        INFO(p);
        CHECK(read_text("/usr/share/doc/" + p + "/copyright") == read_text(source_path("packaging/copyright")));
    }
    for (const std::string f : {"tally.schema", "tally.ldif"}) {
        INFO(f);
        CHECK(fs::is_symlink("/etc/ldap/schema/" + f));
        CHECK(read_text("/etc/ldap/schema/" + f) == read_text(source_path("schema/" + f)));
    }
    CHECK_THAT(run({"/usr/bin/dpkg-query", "-W", "-f=${Conffiles}", "tallyd"}).out, Catch::Contains(kConf));
    // As shipped, the configuration is valid but its password file (made by
    // postinst) is still empty: -n says so, as the daemon would at start.
    auto as_shipped = run({"/usr/sbin/tallyd", "-n", "-c", kConf});
    INFO(as_shipped.out);
    CHECK(as_shipped.rc == 1);
    CHECK_THAT(as_shipped.out, Catch::Contains("password file " + kSecret + " is empty"));

    // ---- the system user, the password file, the unit ----
    const passwd *pw = getpwnam(kUser.c_str());
    REQUIRE(pw);
    const group *gr = getgrnam(kUser.c_str());
    REQUIRE(gr);
    const uid_t uid = pw->pw_uid;
    const gid_t gid = gr->gr_gid;
    const std::string user_name = pw->pw_name;
    CHECK(uid < 1000);  // a system user
    CHECK(pw->pw_gid == gid);
    CHECK(std::string(pw->pw_shell) == "/usr/sbin/nologin");
    struct stat st {};
    REQUIRE(stat(kSecret.c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0640);
    CHECK(st.st_uid == 0);
    CHECK(st.st_gid == gid);
    CHECK(st.st_size == 0);
    CHECK(fs::is_symlink("/etc/systemd/system/multi-user.target.wants/tallyd.service"));  // enabled
    if (fs::exists("/usr/bin/systemd-analyze")) {
        auto verify = run({"/usr/bin/systemd-analyze", "verify", kUnit});
        INFO(verify.out);
        CHECK(verify.rc == 0);
    }
    auto svc = unit_service(kUnit);
    CHECK(svc["Type"] == "simple");
    REQUIRE(svc["User"] == kUser);
    REQUIRE(svc["Group"] == kUser);
    auto exec = words(svc["ExecStart"]);
    REQUIRE(exec.size() >= 2);
    CHECK(exec[0] == "/usr/sbin/tallyd");
    const std::string runtime_dir = "/run/" + svc["RuntimeDirectory"];
    REQUIRE(runtime_dir != "/run/");

    // ---- slapd from the installed example at /etc/ldap/slapd.conf, module and schema ----
    // As an administrator would: the example and its ACL file copied to the
    // paths the example names, only the root password set.
    std::string conf = read_text(kExamples + "/slapd.conf");
    auto replace = [&](const std::string &from, const std::string &to) {
        auto at = conf.find(from);
        REQUIRE(at != std::string::npos);
        conf.replace(at, from.size(), to);
    };
    replace("{SSHA}change-me", kRootPw);
    CHECK_THAT(conf, Catch::Contains("moduleload      tally.so"));  // from modulepath /usr/lib/ldap
    CHECK_THAT(conf, Catch::Contains("include         /etc/ldap/tally-acl.conf"));
    std::ofstream("/etc/ldap/slapd.conf") << conf;
    fs::copy_file(kExamples + "/tally-acl.conf", "/etc/ldap/tally-acl.conf");
    fs::create_directories("/run/slapd");
    TempDir sd;
    std::ofstream(sd.path + "/data.ldif") << sample_ldif();
    auto added = run({"/usr/sbin/slapadd", "-q", "-f", "/etc/ldap/slapd.conf", "-l", sd.path + "/data.ldif"});
    INFO(added.out);
    REQUIRE(added.rc == 0);
    const int slapd_port = free_loopback_port();
    std::string ldap_uri = "ldap://127.0.0.1:" + std::to_string(slapd_port) + "/";
    Process slapd = start({"/usr/sbin/slapd", "-h", ldap_uri, "-f", "/etc/ldap/slapd.conf", "-d", "256"},
                          sd.path + "/slapd.log");
    inst.pids.push_back(slapd.pid());
    inst.dirs = {work.path, sd.path, mounts.root.path};
    inst.write_state();
    {
        INFO("slapd log:\n" << read_text(sd.path + "/slapd.log"));
        REQUIRE(wait_ldap(ldap_uri, slapd));
    }
    CHECK_THAT(read_text("/proc/" + std::to_string(slapd.pid()) + "/maps"), Catch::Contains("/usr/lib/ldap/tally.so"));

    // ---- the milter, as the unit starts it ----
    const int milter_port = free_loopback_port();
    set_config_option(kConf, "socket", "inet:" + std::to_string(milter_port) + "@127.0.0.1");
    set_config_option(kConf, "ldap_uri", ldap_uri);
    set_config_option(kConf, "log_target", "stderr");  // what the journal would hold
    std::ofstream(kSecret) << kPassword << "\n";
    auto valid = run({"/usr/sbin/tallyd", "-n", "-c", kConf});
    INFO(valid.out);
    CHECK(valid.rc == 0);  // with its password, the default configuration is valid
    // systemd makes RuntimeDirectory= at each start, owned by User=
    fs::create_directories(runtime_dir);
    REQUIRE(chown(runtime_dir.c_str(), uid, gid) == 0);
    const std::string milter_log = work.path + "/milter.log";
    Process milter = start(exec, milter_log, getpwnam(kUser.c_str()), gid);
    inst.pids.push_back(milter.pid());
    inst.write_state();
    bool listening = wait_listening(milter_port, milter.pid(), std::chrono::seconds(10));
    INFO("milter log:\n" << read_text(milter_log));
    REQUIRE(listening);
    CHECK_THAT(read_text(milter_log), Catch::Contains("tallyd listening on milter inet:" + std::to_string(milter_port)));
    std::regex uid_line("\nUid:\\s+" + std::to_string(uid) + "\\s+" + std::to_string(uid) + "\\s");
    CHECK(std::regex_search(read_text("/proc/" + std::to_string(milter.pid()) + "/status"), uid_line));
    CHECK(read_text(runtime_dir + "/tallyd.pid") == std::to_string(milter.pid()) + "\n");

    // ---- a message through the installed milter, charged by the installed overlay ----
    CHECK(drive_one(milter_port, work.path, "PKGQ1") == "continue");
    CHECK_THAT(read_text(milter_log), Catch::Contains("qid=PKGQ1 login=\"alice\""));
    CHECK_THAT(read_text(milter_log), Catch::Contains("verdict=accept"));
    auto usage = run({"/usr/bin/tallyctl", "-H", ldap_uri, "-x", "-D", kServiceDn, "-y", kSecret, "usage", kAlice});
    INFO(usage.out);
    CHECK(usage.rc == 0);
    // one message on alice, the example's default daily limit of 500
    CHECK(std::regex_search(usage.out, std::regex("\nday +\\S+ +messages +1 +500 ")));
    auto check = run({"/usr/bin/tallyctl", "check", "-c", kConf, "alice", "alice@example.com", "1", "100"});
    INFO(check.out);
    CHECK(check.rc == 0);

    // ---- stop (SIGTERM, as systemctl stop): a clean exit that removes its PID file ----
    milter.stop();
    CHECK(WIFEXITED(milter.status()));
    CHECK(WEXITSTATUS(milter.status()) == 0);
    CHECK_FALSE(fs::exists(runtime_dir + "/tallyd.pid"));
    slapd.stop();

    // ---- removal refused while slapd.conf loads the module ----
    auto refused = run({"/usr/bin/apt-get", "-o", "DPkg::Lock::Timeout=300", "purge", "-y", "-q", "tally-slapd"});
    {
        INFO(refused.out);
        CHECK(refused.rc != 0);
        CHECK_THAT(refused.out, Catch::Contains("tally-slapd: slapd's configuration still uses Tally"));
        CHECK_THAT(refused.out, Catch::Contains("/etc/ldap/slapd.conf line") &&
                                    Catch::Contains(": moduleload      tally.so") &&
                                    Catch::Contains(": overlay         tally") &&
                                    Catch::Contains(": include         /usr/share/tally/schema/tally.schema"));
        // the rules naming the module's attributes, in the included ACL file
        CHECK_THAT(refused.out, Catch::Contains("/etc/ldap/tally-acl.conf line") &&
                                    Catch::Contains("attrs=tallyCharge") && Catch::Contains("attrs=tallyReset"));
        CHECK_THAT(refused.out, Catch::Contains("slaptest -u -f /etc/ldap/slapd.conf"));
        REQUIRE(installed("tally-slapd"));
    }
    // The administrator moves to cn=config (below): the old files go.
    fs::remove("/etc/ldap/slapd.conf");
    fs::remove("/etc/ldap/tally-acl.conf");
    for (const auto &e : fs::directory_iterator("/var/lib/ldap")) fs::remove_all(e.path());

    // ---- cn=config as "dpkg-reconfigure slapd" makes it (slapd.postinst's
    //      create_new_configuration: slapd.init.ldif, the suffix's entry) ----
    const std::string admin_dn = "cn=admin,dc=example,dc=com";
    {
        std::string init = read_text("/usr/share/slapd/slapd.init.ldif");
        REQUIRE_FALSE(init.empty());
        auto hashed = run({"/usr/sbin/slappasswd", "-s", kRootPw});
        REQUIRE(hashed.rc == 0);
        std::string hashed_pw = hashed.out.substr(0, hashed.out.find('\n'));
        for (auto [from, to] : std::vector<std::pair<std::string, std::string>>{{"@SUFFIX@", "dc=example,dc=com"},
                                                                                 {"@PASSWORD@", hashed_pw}})
            for (auto at = init.find(from); at != std::string::npos; at = init.find(from, at + to.size()))
                init.replace(at, from.size(), to);
        std::ofstream(sd.path + "/init.ldif") << init;
        std::ofstream(sd.path + "/base.ldif") << "dn: dc=example,dc=com\nobjectClass: top\nobjectClass: dcObject\n"
                                                 "objectClass: organization\no: example.com\ndc: example\n\n";
        fs::create_directories("/etc/ldap/slapd.d");
        auto c = run({"/usr/sbin/slapadd", "-F", "/etc/ldap/slapd.d", "-b", "cn=config", "-l", sd.path + "/init.ldif"});
        INFO(c.out);
        REQUIRE(c.rc == 0);
        auto b = run({"/usr/sbin/slapadd", "-F", "/etc/ldap/slapd.d", "-b", "dc=example,dc=com", "-l",
                      sd.path + "/base.ldif"});
        INFO(b.out);
        REQUIRE(b.rc == 0);
        for (const std::string d : {"/etc/ldap/slapd.d", "/var/lib/ldap", "/run/slapd"})
            REQUIRE(run({"/bin/chown", "-R", "openldap:openldap", d}).rc == 0);
    }
    // As Debian's init script starts it (SLAPD_SERVICES on loopback only).
    const int cfg_port = free_loopback_port();
    ldap_uri = "ldap://127.0.0.1:" + std::to_string(cfg_port) + "/";
    auto start_cn_config_slapd = [&](Process &c, const std::string &log) {
        c = start({"/usr/sbin/slapd", "-h", ldap_uri + " ldapi:///", "-g", "openldap", "-u", "openldap", "-F",
                   "/etc/ldap/slapd.d", "-d", "256"},
                  log);
        inst.pids.push_back(c.pid());
        inst.write_state();
        return wait_ldap(ldap_uri, c);
    };
    Process cfg_slapd;
    {
        INFO("slapd log:\n" << read_text(sd.path + "/cfg-slapd.log"));
        REQUIRE(start_cn_config_slapd(cfg_slapd, sd.path + "/cfg-slapd.log"));
    }
    auto ldap = [&](const std::vector<std::string> &argv) {
        auto r = run(argv);
        INFO(argv[0] << " " << (argv.size() > 1 ? argv.back() : "") << ":\n" << r.out);
        CHECK(r.rc == 0);
        return r;
    };
    const std::vector<std::string> external = {"-Q", "-Y", "EXTERNAL", "-H", "ldapi:///"};
    auto with = [](std::vector<std::string> a, const std::vector<std::string> &b) {
        a.insert(a.end(), b.begin(), b.end());
        return a;
    };
    // The installed files, in the order the README gives, unchanged.
    ldap(with({"/usr/bin/ldapadd"}, with(external, {"-f", "/etc/ldap/schema/tally.ldif"})));
    ldap(with({"/usr/bin/ldapadd"}, with(external, {"-f", kExamples + "/tally-module.ldif"})));
    ldap(with({"/usr/bin/ldapadd"}, with(external, {"-f", kExamples + "/tally-overlay.ldif"})));
    ldap(with({"/usr/bin/ldapmodify"}, with(external, {"-f", kExamples + "/tally-acl.ldif"})));
    ldap({"/usr/bin/ldapadd", "-x", "-D", admin_dn, "-w", kRootPw, "-H", ldap_uri, "-f",
          kExamples + "/tally-directory-example.ldif"});
    // Tally's rules first, Debian's behind them.
    auto acl = ldap(with({"/usr/bin/ldapsearch", "-LLL", "-o", "ldif-wrap=no"},
                         with(external, {"-b", "olcDatabase={1}mdb,cn=config", "-s", "base", "olcAccess"})));
    CHECK_THAT(acl.out, Catch::Contains("olcAccess: {1}to dn.subtree=\"dc=example,dc=com\" attrs=tallyCharge"));
    CHECK_THAT(acl.out, Catch::Contains("olcAccess: {11}to attrs=userPassword"));
    CHECK_THAT(acl.out, Catch::Contains("olcAccess: {13}to * by * read"));
    CHECK_THAT(read_text("/proc/" + std::to_string(cfg_slapd.pid()) + "/maps"),
               Catch::Contains("/usr/lib/ldap/tally.so"));

    // ---- the milter against it, with the example directory's service identity ----
    set_config_option(kConf, "ldap_uri", ldap_uri);
    std::ofstream(kSecret) << "change-me\n";  // the example directory's password
    fs::create_directories(runtime_dir);
    REQUIRE(chown(runtime_dir.c_str(), uid, gid) == 0);
    const std::string milter_log2 = work.path + "/milter2.log";
    Process milter2 = start(exec, milter_log2, getpwnam(kUser.c_str()), gid);
    const pid_t milter2_pid = milter2.pid();
    inst.pids.push_back(milter2_pid);
    inst.write_state();
    listening = false;
    for (int i = 0; i < 500 && !listening && milter2.running(); ++i) {
        listening = loopback_port_open(milter_port);
        if (!listening) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    {
        INFO("milter log:\n" << read_text(milter_log2));
        REQUIRE(listening);
        CHECK(drive_one(milter_port, work.path, "PKGQ2") == "continue");
        CHECK_THAT(read_text(milter_log2), Catch::Contains("qid=PKGQ2 login=\"alice\""));
    }
    // Charged through the ACLs of tally-acl.ldif: the service may (rule 1,
    // before Debian's "to * by * read"), alice may not charge herself, and
    // anonymous callers do not see the counters.
    auto usage2 = run({"/usr/bin/tallyctl", "-H", ldap_uri, "-x", "-D", kServiceDn, "-y", kSecret, "usage", kAlice});
    INFO(usage2.out);
    CHECK(usage2.rc == 0);
    CHECK(std::regex_search(usage2.out, std::regex("\nday +\\S+ +messages +1 +500 ")));
    auto self_charge = run({"/usr/bin/tallyctl", "-H", ldap_uri, "-x", "-D", kAlice, "-w", "change-me", "charge", kAlice});
    INFO(self_charge.out);
    CHECK(self_charge.rc != 0);
    CHECK_THAT(self_charge.out, Catch::Contains("nsufficient"));
    auto service_reads = run({"/usr/bin/ldapsearch", "-LLL", "-x", "-D", kServiceDn, "-w", "change-me", "-H", ldap_uri,
                              "-b", kAlice, "-s", "base", "tallyUsage"});
    CHECK_THAT(service_reads.out, Catch::Contains("tallyUsage: day "));
    auto anon = run({"/usr/bin/ldapsearch", "-LLL", "-x", "-H", ldap_uri, "-b", kAlice, "-s", "base", "tallyUsage"});
    CHECK_THAT(anon.out, !Catch::Contains("tallyUsage"));

    // ---- removal refused while cn=config loads the module: the message names the commands ----
    auto refused2 = run({"/usr/bin/apt-get", "-o", "DPkg::Lock::Timeout=300", "purge", "-y", "-q", "tally-slapd"});
    INFO(refused2.out);
    CHECK(refused2.rc != 0);
    REQUIRE(installed("tally-slapd"));
    CHECK_THAT(refused2.out, Catch::Contains("/etc/ldap/slapd.d: cn=tally-module{1},cn=config: olcModuleLoad: {0}tally.so"));
    CHECK_THAT(refused2.out, Catch::Contains("olcOverlay={0}tally,olcDatabase={1}mdb,cn=config: olcOverlay: {0}tally"));
    CHECK_THAT(refused2.out, Catch::Contains("ldapdelete -Y EXTERNAL -H ldapi:/// "
                                             "'olcOverlay={0}tally,olcDatabase={1}mdb,cn=config'"));
    CHECK_THAT(refused2.out, Catch::Contains("slapmodify -F /etc/ldap/slapd.d -n 0 <<'EOF'"));
    CHECK(cfg_slapd.running());  // the refusal changed nothing
    // The administrator runs what it says: online, then slapd stopped (as
    // systemctl stop does: SIGTERM), offline, slapd started.
    const std::string online = commands_of_step(refused2.out, 1);
    const std::string offline = commands_of_step(refused2.out, 3);
    CHECK_THAT(online, Catch::Contains("olcAccess: {3}\n-\ndelete: olcAccess\nolcAccess: {2}\n-\n"
                                       "delete: olcAccess\nolcAccess: {1}\nEOF"));
    REQUIRE_THAT(offline, Catch::Contains("dn: cn=tally-module{1},cn=config\nchangetype: delete"));
    ldap({"/bin/sh", "-ec", online});
    CHECK(cfg_slapd.running());
    cfg_slapd.stop();
    ldap({"/bin/sh", "-ec", offline});
    Process cfg_slapd2;
    {
        INFO("slapd log:\n" << read_text(sd.path + "/cfg-slapd2.log"));
        REQUIRE(start_cn_config_slapd(cfg_slapd2, sd.path + "/cfg-slapd2.log"));
    }
    CHECK_THAT(read_text("/proc/" + std::to_string(cfg_slapd2.pid()) + "/maps"),
               !Catch::Contains("/usr/lib/ldap/tally.so"));

    // ---- purge: now allowed; the milter's prerm stops it through its PID file ----
    CHECK(milter2.running());
    CHECK(fs::exists(runtime_dir + "/tallyd.pid"));
    // ---- purge: nothing of ours is left ----
    inst.purge();
    INFO(inst.log);
    for (const auto &p : kPackages) CHECK(run({"/usr/bin/dpkg-query", "-W", p}).rc != 0);
    for (const std::string f : {"/usr/lib/ldap/tally.so", "/etc/ldap/schema/tally.schema", "/etc/tallyd",
                                "/run/tallyd", "/usr/sbin/tallyd", "/usr/bin/tallyctl", "/usr/share/tally",
                                "/etc/systemd/system/multi-user.target.wants/tallyd.service"})
        CHECK_FALSE(fs::exists(fs::symlink_status(f)));
    if (inst.user_created) {
        CHECK(getpwnam(kUser.c_str()) == nullptr);
        CHECK(getgrnam(kUser.c_str()) == nullptr);
    }
    CHECK_FALSE(fs::exists(kState));
    CHECK_THAT(inst.log, Catch::Contains("Stopping tallyd (PID " + std::to_string(milter2_pid)));
    for (int i = 0; i < 100 && milter2.running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    CHECK_FALSE(milter2.running());
    CHECK(WIFEXITED(milter2.status()));  // SIGTERM was enough: a clean exit
    CHECK(WEXITSTATUS(milter2.status()) == 0);

    // ---- slapd starts again after the purge, and serves the directory ----
    cfg_slapd2.stop();
    Process cfg_slapd3;
    {
        INFO("slapd log:\n" << read_text(sd.path + "/cfg-slapd3.log"));
        REQUIRE(start_cn_config_slapd(cfg_slapd3, sd.path + "/cfg-slapd3.log"));
    }
    auto after = run({"/usr/bin/ldapsearch", "-LLL", "-x", "-D", admin_dn, "-w", kRootPw, "-H", ldap_uri, "-b", kAlice,
                      "-s", "base", "uid"});
    INFO(after.out);
    CHECK(after.rc == 0);
    CHECK_THAT(after.out, Catch::Contains("uid: alice"));
    cfg_slapd3.stop();

    // ---- nothing of Tally runs ----
    auto running = tally_processes();
    std::string listed;
    for (const auto &r : running) listed += r + "\n";
    INFO("running:\n" << listed);
    CHECK(running.empty());
}
