// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
// The Debian packages on a real machine: scripts/package builds them from
// this build, apt installs them, and then everything runs from the installed
// files only: a slapd from the installed example slapd.conf loading the
// installed /usr/lib/ldap/tally.so and /etc/ldap/schema/tally.schema, the
// milter started the way its installed systemd unit says (ExecStart, as
// User/Group, with its RuntimeDirectory; PID 1 here is not systemd), a
// message driven through it with miltertest, the charge read back with the
// installed tallyctl. Then the packages are purged and the machine is as
// before: also when an assertion fails (the guards below clean up), and
// after a run that was killed (a state file under /var/tmp says what to undo).
#include "slapd_fixture.h"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
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

const std::vector<std::string> kPackages = {"tally-slapd", "tally-milter", "tally-tools"};
const std::string kUser = "tally-milter";
const std::string kUnit = "/lib/systemd/system/tally-milter.service";
const std::string kConf = "/etc/tally-milter/tally-milter.conf";
const std::string kSecret = "/etc/tally-milter/ldap.password";
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
    return {rc, read_text(d.path + "/out")};
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
            if (cmd.rfind("/usr/sbin/slapd", 0) == 0 || cmd.rfind("/usr/sbin/tally-milter", 0) == 0) kill(p, SIGKILL);
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
    CHECK_THAT(field("tally-milter", "Depends"), Catch::Contains("adduser") && Catch::Contains("libmilter"));

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
        if (std::regex_search(line, m, inst_line)) REQUIRE_THAT(m[1].str(), Catch::StartsWith("tally-"));
    }
    inst.write_state();
    auto ins = run(install);
    INFO(ins.out);
    REQUIRE(ins.rc == 0);
    for (const auto &p : kPackages) REQUIRE(installed(p));

    // ---- files ----
    for (const std::string f :
         {"/usr/lib/ldap/tally.so", "/usr/share/tally/schema/tally.schema", "/usr/share/tally/schema/tally.ldif",
          "/usr/sbin/tally-milter", "/usr/bin/tallyctl", kConf.c_str(), kUnit.c_str(),
          "/usr/share/man/man5/slapo-tally.5.gz", "/usr/share/man/man8/tally-milter.8.gz",
          "/usr/share/man/man5/tally-milter.conf.5.gz", "/usr/share/man/man1/tallyctl.1.gz",
          "/usr/share/doc/tally-milter/examples/tally-milter.conf", "/usr/share/doc/tally-slapd/examples/slapd.conf",
          "/usr/share/doc/tally-slapd/examples/tally-acl.conf", "/usr/share/doc/tally-slapd/examples/tally-module.ldif",
          "/usr/share/doc/tally-slapd/examples/tally-overlay.ldif"})
        CHECK(fs::is_regular_file(f));
    for (const std::string p : {"tally-slapd", "tally-milter", "tally-tools"}) {
        INFO(p);
        CHECK(read_text("/usr/share/doc/" + p + "/copyright") == read_text(source_path("packaging/copyright")));
    }
    for (const std::string f : {"tally.schema", "tally.ldif"}) {
        INFO(f);
        CHECK(fs::is_symlink("/etc/ldap/schema/" + f));
        CHECK(read_text("/etc/ldap/schema/" + f) == read_text(source_path("schema/" + f)));
    }
    CHECK_THAT(run({"/usr/bin/dpkg-query", "-W", "-f=${Conffiles}", "tally-milter"}).out, Catch::Contains(kConf));
    auto valid = run({"/usr/sbin/tally-milter", "-n", "-c", kConf});
    INFO(valid.out);
    CHECK(valid.rc == 0);  // the default configuration is valid as shipped

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
    CHECK(fs::is_symlink("/etc/systemd/system/multi-user.target.wants/tally-milter.service"));  // enabled
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
    CHECK(exec[0] == "/usr/sbin/tally-milter");
    const std::string runtime_dir = "/run/" + svc["RuntimeDirectory"];
    REQUIRE(runtime_dir != "/run/");

    // ---- slapd from the installed example, module and schema ----
    TempDir sd;
    fs::create_directories(sd.path + "/db");
    std::string conf = read_text(kExamples + "/slapd.conf");
    auto replace = [&](const std::string &from, const std::string &to) {
        auto at = conf.find(from);
        REQUIRE(at != std::string::npos);
        conf.replace(at, from.size(), to);
    };
    replace("/usr/share/tally/schema/tally.schema", "/etc/ldap/schema/tally.schema");
    replace("/var/lib/ldap", sd.path + "/db");
    replace("/run/slapd/slapd.pid", sd.path + "/slapd.pid");
    replace("/run/slapd/slapd.args", sd.path + "/slapd.args");
    replace("{SSHA}change-me", kRootPw);
    replace("/etc/ldap/tally-acl.conf", kExamples + "/tally-acl.conf");
    CHECK_THAT(conf, Catch::Contains("moduleload      tally.so"));  // from modulepath /usr/lib/ldap
    std::ofstream(sd.path + "/slapd.conf") << conf;
    std::ofstream(sd.path + "/data.ldif") << sample_ldif();
    auto added = run({"/usr/sbin/slapadd", "-q", "-f", sd.path + "/slapd.conf", "-l", sd.path + "/data.ldif"});
    INFO(added.out);
    REQUIRE(added.rc == 0);
    const int slapd_port = free_loopback_port();
    const std::string ldap_uri = "ldap://127.0.0.1:" + std::to_string(slapd_port) + "/";
    Process slapd = start({"/usr/sbin/slapd", "-h", ldap_uri, "-f", sd.path + "/slapd.conf", "-d", "256"},
                          sd.path + "/slapd.log");
    inst.pids.push_back(slapd.pid());
    inst.dirs = {work.path, sd.path};
    inst.write_state();
    bool up = wait_ready(slapd.pid(), std::chrono::seconds(20), [&] {
                  std::string err;
                  client::ConnectOptions o;
                  o.uri = ldap_uri;
                  o.network_timeout_ms = 500;
                  return client::Connection::open(o, &err) != nullptr;
              }) == Readiness::ready;
    INFO("slapd log:\n" << read_text(sd.path + "/slapd.log"));
    REQUIRE(up);
    CHECK_THAT(read_text("/proc/" + std::to_string(slapd.pid()) + "/maps"), Catch::Contains("/usr/lib/ldap/tally.so"));

    // ---- the milter, as the unit starts it ----
    const int milter_port = free_loopback_port();
    set_config_option(kConf, "socket", "inet:" + std::to_string(milter_port) + "@127.0.0.1");
    set_config_option(kConf, "ldap_uri", ldap_uri);
    set_config_option(kConf, "log_target", "stderr");  // what the journal would hold
    std::ofstream(kSecret) << kPassword << "\n";
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
    CHECK_THAT(read_text(milter_log), Catch::Contains("tally-milter listening on inet:" + std::to_string(milter_port)));
    std::regex uid_line("\nUid:\\s+" + std::to_string(uid) + "\\s+" + std::to_string(uid) + "\\s");
    CHECK(std::regex_search(read_text("/proc/" + std::to_string(milter.pid()) + "/status"), uid_line));
    CHECK(read_text(runtime_dir + "/tally-milter.pid") == std::to_string(milter.pid()) + "\n");

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
    CHECK_FALSE(fs::exists(runtime_dir + "/tally-milter.pid"));
    slapd.stop();

    // ---- purge: nothing of ours is left ----
    inst.purge();
    INFO(inst.log);
    for (const auto &p : kPackages) CHECK(run({"/usr/bin/dpkg-query", "-W", p}).rc != 0);
    for (const std::string f : {"/usr/lib/ldap/tally.so", "/etc/ldap/schema/tally.schema", "/etc/tally-milter",
                                "/run/tally-milter", "/usr/sbin/tally-milter", "/usr/bin/tallyctl", "/usr/share/tally",
                                "/etc/systemd/system/multi-user.target.wants/tally-milter.service"})
        CHECK_FALSE(fs::exists(fs::symlink_status(f)));
    if (inst.user_created) {
        CHECK(getpwnam(kUser.c_str()) == nullptr);
        CHECK(getgrnam(kUser.c_str()) == nullptr);
    }
    CHECK_FALSE(fs::exists(kState));
}
