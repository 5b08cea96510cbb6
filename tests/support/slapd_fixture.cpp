// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* slapd_fixture.cpp - start, stop and talk to a private slapd for tests */
#include "slapd_fixture.h"

#include "ldap_ops.h"

#include "openldap_install.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#ifndef TALLY_SOURCE_DIR
#error "TALLY_SOURCE_DIR must be defined"
#endif

namespace fs = std::filesystem;

namespace tally::test {

std::string source_path(const std::string &relative) { return std::string(TALLY_SOURCE_DIR) + "/" + relative; }

int free_loopback_port() {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, reinterpret_cast<sockaddr *>(&a), sizeof a) != 0 ||
        getsockname(fd, reinterpret_cast<sockaddr *>(&a), &len) != 0)
        throw std::runtime_error("cannot find a free loopback port");
    int port = ntohs(a.sin_port);
    close(fd);
    return port;
}

namespace {

void write_file(const std::string &path, const std::string &text) {
    std::ofstream f(path);
    f << text;
    if (!f) throw std::runtime_error("cannot write " + path);
}

}  // namespace

std::string read_text(const std::string &path) {
    std::ifstream f(path);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
}

bool loopback_port_open(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<uint16_t>(port));
    bool ok = fd >= 0 && connect(fd, reinterpret_cast<sockaddr *>(&a), sizeof a) == 0;
    if (fd >= 0) close(fd);
    return ok;
}

void set_config_option(const std::string &path, const std::string &key, const std::string &value) {
    std::istringstream in(read_text(path));
    std::string out, line;
    bool done = false;
    while (std::getline(in, line)) {
        if (line.rfind(key + " =", 0) == 0) {
            line = key + " = " + value;
            done = true;
        }
        out += line + "\n";
    }
    if (!done) out += key + " = " + value + "\n";
    std::ofstream(path) << out;
}

TempDir::TempDir() {
    char tmpl[] = "/tmp/tally-test-XXXXXX";
    if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    path = tmpl;
}

TempDir::~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
}

/* slapd_command - argv of slapd or a slap tool (they load tally.so too),
 * after the words of TALLY_SLAPD_WRAPPER when set, an absolute path first:
 * "/usr/bin/valgrind --log-file=..." (scripts/test-sanitizers) */
static std::vector<std::string> slapd_command(std::vector<std::string> argv) {
    const char *w = std::getenv("TALLY_SLAPD_WRAPPER");
    if (!w) return argv;
    std::vector<std::string> out;
    std::istringstream words(w);
    for (std::string word; words >> word;) out.push_back(word);
    out.insert(out.end(), argv.begin(), argv.end());
    return out;
}

int run_command(const std::vector<std::string> &argv, const std::string &out_path, const RunOptions &o) {
    // The input goes into the pipe before the fork: no SIGPIPE race with a
    // command that exits early.
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    bool written = write(fds[1], o.input.data(), o.input.size()) == static_cast<ssize_t>(o.input.size());
    close(fds[1]);
    if (!written) {
        close(fds[0]);
        throw std::runtime_error("cannot write to a pipe");
    }
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        throw std::runtime_error("fork failed");
    }
    if (pid == 0) {
        if (o.own_group) setpgid(0, 0);
        dup2(fds[0], 0);  // dup2 clears FD_CLOEXEC on the copy
        int fd = open(out_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        std::vector<char *> args;
        for (const auto &a : argv) args.push_back(const_cast<char *>(a.c_str()));
        args.push_back(nullptr);
        execv(args[0], args.data());
        _exit(127);
    }
    close(fds[0]);
    if (o.own_group) setpgid(pid, pid);  // also from here: no race with the child's own call
    int status = 0;
    waitpid(pid, &status, 0);
    if (o.own_group)
        while (waitpid(-pid, nullptr, WNOHANG) > 0) {  // helpers orphaned to us (when we are a subreaper)
        }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

namespace {

bool wait_exit(pid_t pid, std::chrono::milliseconds limit) {
    auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
        int status;
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid || r < 0) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
}

}  // namespace

void make_test_ca(const std::string &dir, const std::string &name) {
    fs::create_directories(dir);
    std::string log = dir + "/openssl.log";
    auto ok = [&](std::vector<std::string> argv) {
        if (run_command(argv, log) != 0) throw std::runtime_error("openssl failed: " + read_text(log));
    };
    write_file(dir + "/san.ext", "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
    ok({"/usr/bin/openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=" + name,
        "-keyout", dir + "/ca.key", "-out", dir + "/ca.pem"});
    ok({"/usr/bin/openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout",
        dir + "/server.key", "-out", dir + "/server.csr"});
    ok({"/usr/bin/openssl", "x509", "-req", "-in", dir + "/server.csr", "-CA", dir + "/ca.pem", "-CAkey",
        dir + "/ca.key", "-CAcreateserial", "-days", "2", "-extfile", dir + "/san.ext", "-out", dir + "/server.pem"});
}

std::string sample_ldif() {
    return R"(dn: dc=example,dc=com
objectClass: dcObject
objectClass: organization
o: Example
dc: example

dn: ou=people,dc=example,dc=com
objectClass: organizationalUnit
ou: people

dn: ou=policies,dc=example,dc=com
objectClass: organizationalUnit
ou: policies

dn: ou=services,dc=example,dc=com
objectClass: organizationalUnit
ou: services

dn: ou=groups,dc=example,dc=com
objectClass: organizationalUnit
ou: groups

dn: cn=tally-milter,ou=services,dc=example,dc=com
objectClass: applicationProcess
objectClass: simpleSecurityObject
cn: tally-milter
userPassword: secret

dn: uid=operator,ou=people,dc=example,dc=com
objectClass: inetOrgPerson
uid: operator
cn: Operator
sn: Operator
userPassword: secret

dn: cn=tally-admins,ou=groups,dc=example,dc=com
objectClass: groupOfNames
cn: tally-admins
member: uid=operator,ou=people,dc=example,dc=com

dn: uid=alice,ou=people,dc=example,dc=com
objectClass: inetOrgPerson
objectClass: tallyAccount
uid: alice
cn: Alice
sn: Alice
mail: alice@example.com
userPassword: secret

dn: uid=bob,ou=people,dc=example,dc=com
objectClass: inetOrgPerson
objectClass: tallyAccount
uid: bob
cn: Bob
sn: Bob
mail: bob@example.com
userPassword: secret

dn: uid=carol,ou=people,dc=example,dc=com
objectClass: inetOrgPerson
objectClass: tallyAccount
uid: carol
cn: Carol
sn: Carol
mail: carol@example.com
userPassword: secret
)";
}

Slapd::Slapd(SlapdOptions o) : Slapd(0, std::move(o)) {}

Slapd::Slapd(int port, SlapdOptions o) : opt_(std::move(o)) {
    char tmpl[] = "/tmp/tally-slapd-XXXXXX";
    if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    fs::create_directories(dir_ + "/db");
    port_ = port ? port : free_loopback_port();
    if (!opt_.openldap) opt_.openldap = openldap();
    const OpenLdapInstall &ol = *opt_.openldap;
    if (opt_.module_path.empty()) opt_.module_path = ol.tally_module;

    std::ostringstream conf;
    for (const char *schema : {"core.schema", "cosine.schema", "inetorgperson.schema", "nis.schema"})
        conf << "include " << ol.schema_file(schema) << "\n";
    conf << "include " << source_path("schema/tally.schema") << "\n";
    for (const auto &s : opt_.schema_files) conf << "include " << s << "\n";
    conf << "modulepath " << ol.modules << "\nmoduleload back_mdb\n" << opt_.extra_modules;
    if (opt_.with_overlay) conf << "moduleload " << opt_.module_path << "\n";
    // The log is slapd's stderr (-d stats, slapd.log), not syslog: on a machine
    // without a syslog daemon every syslog() call opens and fails a socket
    // under glibc's lock, which slowed every operation (and what the
    // slapd.d configuration a test converts to says: olcLogLevel 0).
    conf << "loglevel 0\n" << opt_.extra_global_config << "\n";
    if (opt_.tls) {
        make_test_ca(dir_ + "/tls");
        tls_port_ = free_loopback_port();
        conf << "TLSCACertificateFile " << dir_ << "/tls/ca.pem\n"
             << "TLSCertificateFile " << dir_ << "/tls/server.pem\n"
             << "TLSCertificateKeyFile " << dir_ << "/tls/server.key\n";
    }
    conf << "pidfile " << dir_ << "/slapd.pid\n"
         << "database config\nrootdn " << kConfigDn << "\nrootpw " << kRootPw << "\n"
         << "database mdb\nsuffix " << kSuffix << "\nrootdn " << kRootDn << "\nrootpw " << kRootPw << "\n"
         << "directory " << dir_ << "/db\nmaxsize 268435456\n"
         << (opt_.nosync ? "dbnosync\n" : "")
         << (opt_.mdb_envflags.empty() ? "" : "envflags " + opt_.mdb_envflags + "\n") << opt_.extra_database_config << "\n";
    if (opt_.sample_acl) conf << "include " << source_path("slapd-conf/tally-acl.conf") << "\n";
    if (opt_.with_overlay) conf << "overlay tally\n" << opt_.overlay_config << "\n";
    if (!opt_.extra_databases.empty()) {
        std::string text = opt_.extra_databases;
        for (std::size_t at; (at = text.find("@DIR@")) != std::string::npos;) text.replace(at, 5, dir_);
        std::istringstream lines(text);
        for (std::string line; std::getline(lines, line);)
            if (line.rfind("directory", 0) == 0) fs::create_directories(line.substr(line.find_first_not_of(" \t", 9)));
        conf << text << "\n";
    }
    if (!opt_.config_template.empty()) {
        std::string text = ol.adapt(opt_.config_template);
        for (std::size_t at; (at = text.find("@DIR@")) != std::string::npos;) text.replace(at, 5, dir_);
        std::istringstream lines(text);
        for (std::string line; std::getline(lines, line);)
            if (line.rfind("directory", 0) == 0) {
                std::string path = line.substr(9);
                path.erase(0, path.find_first_not_of(" \t"));
                fs::create_directories(path);
            }
        conf.str(text);
    }
    write_file(dir_ + "/slapd.conf", conf.str());
    write_file(dir_ + "/data.ldif", sample_ldif() + "\n" + opt_.data_ldif);
    set_clock(static_cast<std::int64_t>(time(nullptr)));
    if (opt_.load_sample &&
        run_command(slapd_command({ol.tool("slapadd"), "-q", "-b", kSuffix, "-f", dir_ + "/slapd.conf", "-l",
                                   dir_ + "/data.ldif"}),
                    dir_ + "/slapadd.log") != 0)
        throw std::runtime_error("slapadd failed: " + read_text(dir_ + "/slapadd.log"));
    if (opt_.config_dir) {
        fs::create_directories(dir_ + "/slapd.d");
        if (run_command(slapd_command({ol.tool("slaptest"), "-f", dir_ + "/slapd.conf", "-F", dir_ + "/slapd.d"}),
                        dir_ + "/slaptest.log") != 0)
            throw std::runtime_error("slaptest conversion failed: " + read_text(dir_ + "/slaptest.log"));
    }
}

Slapd::~Slapd() {
    try {
        stop();
    } catch (...) {
    }
    const char *keep = std::getenv("TALLY_KEEP_TMP");
    if (!keep || std::string(keep) != "1") {
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }
}

void Slapd::set_clock(std::int64_t epoch_seconds) {
    write_file(dir_ + "/clock.tmp", std::to_string(epoch_seconds) + "\n");
    fs::rename(dir_ + "/clock.tmp", dir_ + "/clock");  // atomic: slapd never reads half a number
}

void Slapd::start() {
    if (pid_ > 0) return;
    std::string log_path = dir_ + "/slapd.log";
    std::string clock = dir_ + "/clock";
    std::string h = uri();
    if (opt_.ldapi) h += " " + ldapi_uri();
    if (opt_.tls) h += " " + ldaps_uri();
    std::string conf = opt_.config_dir ? dir_ + "/slapd.d" : dir_ + "/slapd.conf";
    auto argv = slapd_command({opt_.openldap->slapd(), "-h", h, opt_.config_dir ? "-F" : "-f", conf, "-d", "256"});
    pid_ = fork();
    if (pid_ == 0) {
        if (opt_.controllable_clock) setenv("TALLY_CLOCK_FILE", clock.c_str(), 1);
        int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        std::vector<char *> args;
        for (auto &a : argv) args.push_back(a.data());
        args.push_back(nullptr);
        execv(args[0], args.data());
        _exit(127);
    }
    auto end = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < end) {
        int status;
        if (waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            throw std::runtime_error("slapd exited at start: " + log());
        }
        std::string err;
        client::ConnectOptions o;
        o.uri = uri();
        o.network_timeout_ms = 500;
        if (client::Connection::open(o, &err)) return;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    throw std::runtime_error("slapd did not answer within 20 s: " + log());
}

void Slapd::stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    if (!wait_exit(pid_, std::chrono::seconds(15))) {
        kill(pid_, SIGKILL);
        wait_exit(pid_, std::chrono::seconds(5));
    }
    pid_ = -1;
}

void Slapd::kill_hard() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    wait_exit(pid_, std::chrono::seconds(5));
    pid_ = -1;
}

std::string Slapd::ldapi_uri() const {
    std::string path = dir_ + "/ldapi", url = "ldapi://";
    for (char c : path) url += c == '/' ? std::string("%2F") : std::string(1, c);
    return url;
}

std::string Slapd::log() const { return read_text(dir_ + "/slapd.log"); }

std::unique_ptr<client::Connection> Slapd::connect(const std::string &dn, const std::string &pw) const {
    client::ConnectOptions o;
    o.uri = uri();
    o.bind_dn = dn;
    o.password = dn.empty() ? "" : pw;
    std::string err;
    auto c = client::Connection::open(o, &err);
    if (!c) throw std::runtime_error(err);
    return c;
}

int ldap_modify(client::Connection &c, const std::string &dn, int op, const std::string &attr,
                const std::vector<std::string> &values, std::string *text, bool relax) {
    client::WriteOptions w;
    w.relax = relax;
    client::LdapResult r = client::modify(c, dn, {{op, attr, values}}, w);
    if (text) *text = r.text;
    return r.code;
}

int ldap_add(client::Connection &c, const std::string &dn,
             const std::vector<std::pair<std::string, std::vector<std::string>>> &attrs, std::string *text) {
    client::LdapResult r = client::add(c, dn, attrs);
    if (text) *text = r.text;
    return r.code;
}

std::vector<std::string> ldap_values(client::Connection &c, const std::string &dn, const std::string &attr) {
    return client::read_values(c, dn, attr);
}

client::ChargeOutcome charge_one(client::Connection &c, const std::string &dn, std::uint64_t rcpts,
                                 std::uint64_t bytes, const std::string &id, Mode mode) {
    ChargeRequest r;
    r.account = dn;
    r.messages = mode == Mode::check ? 0 : 1;
    r.recipients = rcpts;
    r.bytes = bytes;
    r.charge_id = id;
    r.mode = mode;
    auto out = client::charge(c, r);
    if (out.ldap.transport_error()) throw std::runtime_error("charge: " + out.ldap.text);
    return out;
}

std::uint64_t used(const ChargeResponse &r, const std::string &window, Metric m) {
    for (const auto &w : r.windows)
        if (w.window == window) return w.usage[m];
    throw std::runtime_error("no window " + window + " in response");
}

}  // namespace tally::test
