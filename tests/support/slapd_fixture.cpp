// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* slapd_fixture.cpp - start, stop and talk to a private slapd for tests */
#include "slapd_fixture.h"

#include "ldap_ops.h"

#include "openldap_install.h"

#include <stdlib.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>
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

std::string wait_for_text(const std::string &path, int timeout_ms) {
    std::string text = read_text(path);
    for (int waited = 0; text.empty() && waited < timeout_ms; waited += 100) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        text = read_text(path);
    }
    return text;
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
cn: tallyd
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
    if (!keep_dir_ && (!keep || std::string(keep) != "1")) {
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }
}

void Slapd::set_clock(std::int64_t epoch_seconds) {
    write_file(dir_ + "/clock.tmp", std::to_string(epoch_seconds) + "\n");
    fs::rename(dir_ + "/clock.tmp", dir_ + "/clock");  // atomic: slapd never reads half a number
}

void Slapd::start() {
    if (process_.pid() > 0) return;
    std::string h = uri();
    if (opt_.ldapi) h += " " + ldapi_uri();
    if (opt_.tls) h += " " + ldaps_uri();
    std::string conf = opt_.config_dir ? dir_ + "/slapd.d" : dir_ + "/slapd.conf";
    SpawnOptions so;
    so.log = dir_ + "/slapd.log";
    if (opt_.controllable_clock) so.env.emplace_back("TALLY_CLOCK_FILE", dir_ + "/clock");
    auto answers = [this] {
        std::string err;
        client::ConnectOptions o;
        o.uri = uri();
        o.network_timeout_ms = 500;
        return client::Connection::open(o, &err) != nullptr;
    };
    // TALLY_SLAPD_DEBUG (e.g. 16640: stats and sync) overrides the level for a look at replication.
    const char *debug = std::getenv("TALLY_SLAPD_DEBUG");
    auto argv = slapd_command({opt_.openldap->slapd(), "-h", h, opt_.config_dir ? "-F" : "-f", conf, "-d",
                               debug && *debug ? std::string(debug) : opt_.debug_level});
    process_ = Process::adopt(start_server("slapd", argv, so, std::chrono::seconds(20), answers));
}

void Slapd::stop() { process_.stop(std::chrono::seconds(15)); }

void Slapd::kill_hard() { process_.kill_hard(); }

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

std::string joined(const std::vector<std::string> &values) {
    std::string all;
    for (const auto &v : values) all += v + "\n";
    return all;
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
