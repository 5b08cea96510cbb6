// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* postfix_fixture.cpp - start, stop and talk to a private Postfix for end-to-end tests */
#include "postfix_fixture.h"

#include "slapd_fixture.h"  // free_loopback_port, read_text

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace tally::test {

namespace {

constexpr const char *kPostfixCmd = "/usr/sbin/postfix";
constexpr const char *kSinkCmd = "/usr/sbin/smtp-sink";
constexpr const char *kSaslPasswd = "/usr/sbin/saslpasswd2";

/* write_file - a whole file; throws when it cannot */
void write_file(const std::string &path, const std::string &text) {
    std::ofstream f(path);
    f << text;
    if (!f) throw std::runtime_error("cannot write " + path);
}

/* backdate - set a file's times a minute into the past */
void backdate(const std::string &path) {
    timespec times[2];
    clock_gettime(CLOCK_REALTIME, &times[0]);
    times[0].tv_sec -= 60;
    times[1] = times[0];
    if (utimensat(AT_FDCWD, path.c_str(), times, 0) != 0)
        throw std::runtime_error("utimensat " + path + ": " + std::strerror(errno));
}

/* tail - the last n lines of a text */
std::string tail(const std::string &text, int n) {
    std::size_t pos = text.size();
    if (pos && text[pos - 1] == '\n') --pos;
    while (pos > 0 && n > 0) {
        pos = text.rfind('\n', pos - 1);
        if (pos == std::string::npos) return text;
        --n;
    }
    return n > 0 ? text : text.substr(pos + 1);
}

/* postfix_ids - uid and gid of the postfix account */
std::pair<uid_t, gid_t> postfix_ids() {
    struct passwd *pw = getpwnam("postfix");
    if (!pw) throw std::runtime_error("no postfix user: is the postfix package installed?");
    return {pw->pw_uid, pw->pw_gid};
}

/* chown_path - chown that throws */
void chown_path(const std::string &path, uid_t uid, gid_t gid) {
    if (chown(path.c_str(), uid, gid) != 0)
        throw std::runtime_error("chown " + path + ": " + std::strerror(errno));
}

/* group_alive - whether a process group has a live (non-zombie) member, reaping ours on the way */
bool group_alive(pid_t pgid) {
    while (waitpid(-pgid, nullptr, WNOHANG) > 0) {
    }
    if (kill(-pgid, 0) != 0) return false;  // ESRCH: no member at all
    for (const auto &e : fs::directory_iterator("/proc")) {
        const std::string name = e.path().filename();
        if (name.empty() || !std::all_of(name.begin(), name.end(), ::isdigit)) continue;
        pid_t pid = static_cast<pid_t>(std::stol(name));
        if (getpgid(pid) == pgid && process_alive(pid)) return true;
    }
    return false;  // only zombies left that are not ours to reap
}

/* runs_config - whether a live process was started for a Postfix configuration directory */
bool runs_config(pid_t pid, const std::string &config_dir) {
    const std::string env = read_text("/proc/" + std::to_string(pid) + "/environ");
    return env.find(std::string("MAIL_CONFIG=") + config_dir + '\0') != std::string::npos;
}

/* stop_group - SIGTERM the master (only if it still is this instance's), wait for its
 * process group to end, SIGKILL the group after 10 s */
void stop_group(pid_t leader, const std::string &config_dir) {
    if (runs_config(leader, config_dir)) kill(leader, SIGTERM);
    auto end = std::chrono::steady_clock::now() + 10s;
    while (group_alive(leader)) {
        if (std::chrono::steady_clock::now() > end) {
            kill(-leader, SIGKILL);
            end = std::chrono::steady_clock::now() + 5s;
            while (group_alive(leader) && std::chrono::steady_clock::now() < end) std::this_thread::sleep_for(20ms);
            return;
        }
        std::this_thread::sleep_for(20ms);
    }
}

/* Socket - a connected TCP socket with a line reader */
class Socket {
public:
    /* Socket - connect to 127.0.0.1:port; fd() < 0 and error() on failure */
    explicit Socket(int port) {
        fd_ = connect_loopback(port);
        if (fd_ < 0) error_ = std::string("connect: ") + std::strerror(errno);
    }
    ~Socket() {
        if (fd_ >= 0) close(fd_);
    }
    Socket(const Socket &) = delete;
    Socket &operator=(const Socket &) = delete;

    int fd() const { return fd_; }
    const std::string &error() const { return error_; }

    /* send_all - write all bytes; false (and error()) on failure */
    bool send_all(const std::string &data) {
        std::size_t done = 0;
        while (done < data.size()) {
            ssize_t n = ::send(fd_, data.data() + done, data.size() - done, MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) {
                error_ = std::string("send: ") + std::strerror(errno);
                return false;
            }
            done += static_cast<std::size_t>(n);
        }
        return true;
    }

    /* read_line - one line without CRLF; false (and error()) on EOF, error or timeout */
    bool read_line(std::string &line, int timeout_ms) {
        auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
        for (;;) {
            auto nl = buf_.find('\n');
            if (nl != std::string::npos) {
                line = buf_.substr(0, nl);
                if (!line.empty() && line.back() == '\r') line.pop_back();
                buf_.erase(0, nl + 1);
                return true;
            }
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
            if (left.count() <= 0) {
                error_ = "timeout waiting for a reply";
                return false;
            }
            pollfd p{fd_, POLLIN, 0};
            int r = poll(&p, 1, static_cast<int>(left.count()));
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) continue;  // the deadline check above reports the timeout
            char chunk[4096];
            ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) {
                error_ = n == 0 ? "connection closed by server" : std::string("recv: ") + std::strerror(errno);
                return false;
            }
            buf_.append(chunk, static_cast<std::size_t>(n));
        }
    }

private:
    int fd_ = -1;
    std::string buf_;
    std::string error_;
};

/* Reply - one SMTP reply: its code and its lines joined by "\n" (code 0: none, text = error) */
struct Reply {
    int code = 0;
    std::string text;
};

/* read_reply - one possibly multi-line SMTP reply */
Reply read_reply(Socket &s, int timeout_ms, std::string &transcript) {
    Reply r;
    std::string line;
    for (;;) {
        if (!s.read_line(line, timeout_ms)) {
            transcript += "!: " + s.error() + "\n";
            return {0, r.text.empty() ? s.error() : r.text + "\n" + s.error()};
        }
        transcript += "S: " + line + "\n";
        if (!r.text.empty()) r.text += "\n";
        r.text += line;
        if (line.size() < 3 || !std::isdigit(static_cast<unsigned char>(line[0])) ||
            !std::isdigit(static_cast<unsigned char>(line[1])) || !std::isdigit(static_cast<unsigned char>(line[2])))
            return {0, "malformed reply: " + r.text};
        if (line.size() == 3 || line[3] != '-') {
            r.code = std::stoi(line.substr(0, 3));
            return r;
        }
    }
}

/* base64 - standard base64 with padding */
std::string base64(const std::string &in) {
    static const char *tbl = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    std::size_t i = 0;
    for (; i + 2 < in.size(); i += 3) {
        unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
                     static_cast<unsigned char>(in[i + 2]);
        out += tbl[(v >> 18) & 63];
        out += tbl[(v >> 12) & 63];
        out += tbl[(v >> 6) & 63];
        out += tbl[v & 63];
    }
    if (i + 1 == in.size()) {
        unsigned v = static_cast<unsigned char>(in[i]) << 16;
        out += tbl[(v >> 18) & 63];
        out += tbl[(v >> 12) & 63];
        out += "==";
    } else if (i + 2 == in.size()) {
        unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
        out += tbl[(v >> 18) & 63];
        out += tbl[(v >> 12) & 63];
        out += tbl[(v >> 6) & 63];
        out += '=';
    }
    return out;
}

/* data_payload - the message as DATA content: CRLF lines, dot-stuffed, ending in CRLF . CRLF */
std::string data_payload(const SmtpMessage &m) {
    std::string text = m.body;
    if (text.empty()) {
        text = "From: <" + m.from + ">\n";
        for (std::size_t i = 0; i < m.to.size(); ++i) text += (i ? "Cc: <" : "To: <") + m.to[i] + ">\n";
        text += "Subject: tally end-to-end test\n\ntest message\n";
    }
    std::string out;
    out.reserve(text.size() + text.size() / 20 + 8);
    bool line_start = true;
    for (std::size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') continue;  // the '\n' adds CRLF
        if (line_start && c == '.') out += '.';
        if (c == '\n') {
            out += "\r\n";
            line_start = true;
        } else {
            out += c;
            line_start = false;
        }
    }
    if (!line_start) out += "\r\n";
    out += ".\r\n";
    return out;
}

/* wait_greeting - whether 127.0.0.1:port greets with 220 before the deadline */
bool wait_greeting(int port, std::chrono::steady_clock::time_point end, const std::function<bool()> &still_ok) {
    while (std::chrono::steady_clock::now() < end) {
        if (!still_ok()) return false;
        Socket s(port);
        if (s.fd() >= 0) {
            std::string transcript;
            Reply r = read_reply(s, 2000, transcript);
            if (r.code == 220) {
                s.send_all("QUIT\r\n");
                read_reply(s, 2000, transcript);
                return true;
            }
        }
        std::this_thread::sleep_for(50ms);
    }
    return false;
}

}  // namespace

Postfix::Postfix(PostfixOptions o) : opt_(std::move(o)) {
    // Re-parent the daemonized master (and its children) to this process, so they get reaped here.
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    char tmpl[] = "/tmp/tally-postfix-XXXXXX";
    if (!mkdtemp(tmpl)) throw std::runtime_error(std::string("mkdtemp: ") + std::strerror(errno));
    dir_ = tmpl;
    try {
        chmod(dir_.c_str(), 0755);  // smtpd and smtp-sink run as postfix
        smtp_port_ = free_loopback_port();
        sink_port_ = free_loopback_port();
        while (sink_port_ == smtp_port_) sink_port_ = free_loopback_port();
        write_config();
        create_users();
        start_sink();
        start_postfix();
        wait_smtpd();
    } catch (...) {
        shutdown();
        throw;
    }
}

Postfix::~Postfix() { shutdown(); }

/* write_config - main.cf, master.cf, SASL config and the directories they name */
void Postfix::write_config() {
    auto [uid, gid] = postfix_ids();
    for (const char *sub : {"/etc", "/etc/sasl", "/queue", "/data", "/log", "/sink"}) {
        fs::create_directories(dir_ + sub);
        chmod((dir_ + sub).c_str(), 0755);
    }
    chown_path(dir_ + "/data", uid, gid);
    chmod((dir_ + "/data").c_str(), 0700);
    chown_path(dir_ + "/sink", uid, gid);

    std::ostringstream main;
    main << "# main.cf - private test instance written by tally's postfix_fixture\n"
         << "compatibility_level = 3.6\n"
         << "queue_directory = " << dir_ << "/queue\n"
         << "data_directory = " << dir_ << "/data\n"
         << "maillog_file = " << dir_ << "/log/maillog\n"
         << "maillog_file_prefixes = " << dir_ << "\n"
         << "myhostname = " << kPostfixHostname << "\n"
         << "mydomain = localdomain\n"
         << "myorigin = $myhostname\n"
         << "inet_interfaces = 127.0.0.1\n"
         << "inet_protocols = ipv4\n"
         << "mydestination =\n"
         << "alias_maps =\n"
         << "alias_database =\n"
         << "local_recipient_maps =\n"
         << "mynetworks = 192.0.2.1/32\n"
         << "relayhost = [127.0.0.1]:" << sink_port_ << "\n"
         << "smtp_dns_support_level = disabled\n"
         << "smtpd_peername_lookup = no\n"
         << "biff = no\n"
         << "append_dot_mydomain = no\n"
         << "smtpd_banner = $myhostname ESMTP\n"
         << "smtpd_relay_restrictions = permit_sasl_authenticated, reject_unauth_destination\n"
         << "smtpd_sasl_auth_enable = yes\n"
         << "smtpd_sasl_type = cyrus\n"
         << "smtpd_sasl_path = smtpd\n"
         << "cyrus_sasl_config_path = " << dir_ << "/etc/sasl\n"
         << "smtpd_sasl_local_domain = " << kSaslRealm << "\n"
         << "smtpd_sasl_security_options = noanonymous\n"
         << "smtpd_sasl_authenticated_header = no\n"
         << "smtpd_milters = " << opt_.milter << "\n"
         << "non_smtpd_milters =\n"
         << "milter_protocol = 6\n"
         << "milter_default_action = " << opt_.milter_default_action << "\n"
         << "milter_connect_timeout = 5s\n"
         << "milter_command_timeout = " << opt_.milter_command_timeout << "s\n"
         << "milter_content_timeout = " << opt_.milter_command_timeout << "s\n"
         << "# extra_main_cf\n"
         << opt_.extra_main_cf << "\n";
    write_file(dir_ + "/etc/main.cf", main.str());
    // Postfix re-reads a main.cf modified within the last second until it is older (~2 s).
    backdate(dir_ + "/etc/main.cf");

    // Every service unchrooted (the instance's files live outside any chroot).
    std::ostringstream master;
    master << "# master.cf - private test instance\n"
           << "127.0.0.1:" << smtp_port_ << " inet n - n - - smtpd\n"
           << "pickup    unix  n - n 60   1 pickup\n"
              "cleanup   unix  n - n -    0 cleanup\n"
              "qmgr      unix  n - n 300  1 qmgr\n"
              "tlsmgr    unix  - - n 1000? 1 tlsmgr\n"
              "rewrite   unix  - - n -    - trivial-rewrite\n"
              "bounce    unix  - - n -    0 bounce\n"
              "defer     unix  - - n -    0 bounce\n"
              "trace     unix  - - n -    0 bounce\n"
              "verify    unix  - - n -    1 verify\n"
              "flush     unix  n - n 1000? 0 flush\n"
              "proxymap  unix  - - n -    - proxymap\n"
              "proxywrite unix - - n -    1 proxymap\n"
              "smtp      unix  - - n -    - smtp\n"
              "relay     unix  - - n -    - smtp\n"
              "showq     unix  n - n -    - showq\n"
              "error     unix  - - n -    - error\n"
              "retry     unix  - - n -    - error\n"
              "discard   unix  - - n -    - discard\n"
              "local     unix  - n n -    - local\n"
              "virtual   unix  - n n -    - virtual\n"
              "lmtp      unix  - - n -    - lmtp\n"
              "anvil     unix  - - n -    1 anvil\n"
              "scache    unix  - - n -    1 scache\n"
              "postlog   unix-dgram n - n - 1 postlogd\n";
    write_file(dir_ + "/etc/master.cf", master.str());
    backdate(dir_ + "/etc/master.cf");

    write_file(dir_ + "/etc/sasl/smtpd.conf", "pwcheck_method: auxprop\n"
                                              "auxprop_plugin: sasldb\n"
                                              "mech_list: PLAIN LOGIN\n"
                                              "sasldb_path: " + dir_ + "/etc/sasl/sasldb2\n");
}

/* create_users - the SASL users in the sasldb, readable by group postfix */
void Postfix::create_users() {
    if (opt_.users.empty()) return;
    const std::string db = dir_ + "/etc/sasl/sasldb2";
    for (const auto &[login, password] : opt_.users) {
        if (run_command({kSaslPasswd, "-p", "-c", "-f", db, "-u", kSaslRealm, login}, dir_ + "/saslpasswd2.log",
                        {password, false}) != 0)
            throw std::runtime_error(failure("saslpasswd2 failed for " + login));
    }
    chown_path(db, 0, postfix_ids().second);
    chmod(db.c_str(), 0640);
}

/* start_sink - smtp-sink as the relay host, one dump file per message in DIR/sink */
void Postfix::start_sink() {
    const std::string tmpl = dir_ + "/sink/msg.";
    const std::string listen = "127.0.0.1:" + std::to_string(sink_port_);
    SpawnOptions so;
    so.log = dir_ + "/sink.log";
    sink_pid_ = spawn({kSinkCmd, "-4", "-u", "postfix", "-h", "sink.tally-test.localdomain", "-d", tmpl, listen, "64"}, so);
    auto alive = [this] { return !exited(sink_pid_); };
    if (!wait_greeting(sink_port_, std::chrono::steady_clock::now() + 10s, alive)) {
        if (!alive()) sink_pid_ = -1;
        throw std::runtime_error(failure("smtp-sink did not start on " + listen));
    }
}

/* start_postfix - `postfix -c DIR/etc start`, then the master's PID from its pid file */
void Postfix::start_postfix() {
    int rc = run_command({kPostfixCmd, "-c", dir_ + "/etc", "start"}, dir_ + "/postfix-start.log", {"", true});
    std::string pid_text = read_text(dir_ + "/queue/pid/master.pid");
    try {
        master_pid_ = static_cast<pid_t>(std::stol(pid_text));
    } catch (...) {
        master_pid_ = -1;
    }
    if (rc != 0) throw std::runtime_error(failure("postfix start exited with " + std::to_string(rc)));
    if (master_pid_ <= 0) throw std::runtime_error(failure("no master pid in queue/pid/master.pid"));
}

/* wait_smtpd - wait until the smtpd greets with 220 (a milter may still be absent) */
void Postfix::wait_smtpd() {
    auto alive = [this] { return process_alive(master_pid_); };
    if (!wait_greeting(smtp_port_, std::chrono::steady_clock::now() + 20s, alive))
        throw std::runtime_error(failure("smtpd did not greet on 127.0.0.1:" + std::to_string(smtp_port_)));
}

/* shutdown - stop what this instance started, then remove the directory (unless TALLY_KEEP_TMP=1) */
void Postfix::shutdown() noexcept {
    try {
        if (master_pid_ > 0) stop_group(master_pid_, dir_ + "/etc");
    } catch (...) {
    }
    master_pid_ = -1;
    try {
        if (sink_pid_ > 0) stop_process(sink_pid_, 5s);
    } catch (...) {
    }
    sink_pid_ = -1;
    if (dir_.empty()) return;
    const char *keep = std::getenv("TALLY_KEEP_TMP");
    if (!keep || std::string(keep) != "1") {
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }
}

/* failure - a message with the tails of every log of the instance */
std::string Postfix::failure(const std::string &what) const {
    std::string msg = what + " (dir " + dir_ + "; TALLY_KEEP_TMP=1 keeps it)";
    for (const char *log : {"/postfix-start.log", "/log/maillog", "/sink.log", "/saslpasswd2.log"}) {
        std::string text = read_text(dir_ + log);
        if (!text.empty()) msg += "\n--- " + std::string(log + 1) + " (tail) ---\n" + tail(text, 30);
    }
    return msg;
}

std::string Postfix::maillog() const { return read_text(dir_ + "/log/maillog"); }

/* complete_dumps - smtp-sink's dump files it no longer holds open (finished messages), oldest first */
std::vector<std::string> Postfix::complete_dumps() const {
    std::vector<std::pair<fs::file_time_type, std::string>> files;
    std::error_code ec;
    for (const auto &e : fs::directory_iterator(dir_ + "/sink", ec))
        if (e.is_regular_file(ec)) files.emplace_back(e.last_write_time(ec), e.path().string());
    // smtp-sink creates the file at MAIL FROM, keeps it open until "." and unlinks it on RSET/abort.
    std::set<std::string> open_now;
    if (sink_pid_ > 0) {
        const std::string fd_dir = "/proc/" + std::to_string(sink_pid_) + "/fd";
        for (const auto &e : fs::directory_iterator(fd_dir, ec)) {
            auto target = fs::read_symlink(e.path(), ec);
            if (!ec) open_now.insert(target.string());
        }
    }
    std::sort(files.begin(), files.end());
    std::vector<std::string> out;
    for (const auto &f : files)
        if (!open_now.count(f.second) && fs::exists(f.second, ec)) out.push_back(f.second);
    return out;
}

int Postfix::delivered_count() const { return static_cast<int>(complete_dumps().size()); }

std::vector<std::string> Postfix::delivered_messages() const {
    std::vector<std::string> out;
    for (const auto &path : complete_dumps()) out.push_back(read_text(path));
    return out;
}

bool Postfix::wait_delivered(int n, int timeout_ms) const {
    auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
        if (delivered_count() >= n) return true;
        if (std::chrono::steady_clock::now() >= end) return false;
        std::this_thread::sleep_for(25ms);
    }
}

SmtpResult smtp_send(int port, const SmtpMessage &m) {
    SmtpResult res;
    auto &tr = res.transcript;
    Socket s(port);
    auto finish = [&](const std::string &stage, const Reply &r) {
        res.stage = stage;
        res.code = r.code;
        res.reply = r.text;
        return res;
    };
    auto command = [&](const std::string &line, const std::string &shown) {
        tr += "C: " + shown + "\n";
        if (!s.send_all(line + "\r\n")) return Reply{0, s.error()};
        return read_reply(s, m.timeout_ms, tr);
    };
    auto end_with_quit = [&](const std::string &stage, const Reply &r) {  // QUIT politely while connected
        if (r.code != 0) {
            tr += "C: QUIT\n";
            if (s.send_all("QUIT\r\n")) read_reply(s, 5000, tr);
        }
        return finish(stage, r);
    };
    auto is_refusal = [](const Reply &r) { return r.code == 0 || r.code >= 400; };

    if (s.fd() < 0) return finish("connect", {0, s.error()});
    Reply r = read_reply(s, m.timeout_ms, tr);
    if (r.code != 220) return finish("connect", r);

    r = command("EHLO " + m.helo, "EHLO " + m.helo);
    if (r.code != 250) return end_with_quit("ehlo", r);

    if (!m.xclient_login.empty()) {
        r = command("XCLIENT LOGIN=" + m.xclient_login, "XCLIENT LOGIN=" + m.xclient_login);
        if (r.code != 220) return end_with_quit("xclient", r);
        r = command("EHLO " + m.helo, "EHLO " + m.helo);
        if (r.code != 250) return end_with_quit("ehlo", r);
    }

    if (!m.login.empty()) {
        std::string token = base64(std::string(1, '\0') + m.login + std::string(1, '\0') + m.password);
        r = command("AUTH PLAIN " + token, "AUTH PLAIN <" + m.login + " credentials>");
        if (r.code != 235) return end_with_quit("auth", r);
    }

    r = command("MAIL FROM:<" + m.from + ">", "MAIL FROM:<" + m.from + ">");
    if (is_refusal(r)) return end_with_quit("mail", r);

    bool any_rcpt = false;
    Reply last_rcpt;
    for (const auto &to : m.to) {
        last_rcpt = command("RCPT TO:<" + to + ">", "RCPT TO:<" + to + ">");
        res.rcpt_replies.push_back(last_rcpt.text);
        if (last_rcpt.code == 0) return finish("rcpt", last_rcpt);  // connection lost
        if (!is_refusal(last_rcpt)) any_rcpt = true;
    }
    if (!any_rcpt) return end_with_quit("rcpt", m.to.empty() ? Reply{0, "no recipients given"} : last_rcpt);

    r = command("DATA", "DATA");
    if (r.code != 354) return end_with_quit("data", r);

    std::string payload = data_payload(m);
    tr += "C: <" + std::to_string(payload.size()) + " bytes of message data>\n";
    if (!s.send_all(payload)) return finish("eom", {0, s.error()});
    return end_with_quit("eom", read_reply(s, m.timeout_ms, tr));
}

SmtpMessage submission(const std::string &login, const std::string &from, std::vector<std::string> to) {
    SmtpMessage m;
    m.login = login;
    m.password = "secret";
    m.from = from;
    m.to = std::move(to);
    return m;
}

PostfixOptions front_mta_for(int port, const std::string &login) {
    PostfixOptions o;
    o.users = {{login, "secret"}};
    o.extra_main_cf = "relayhost = [127.0.0.1]:" + std::to_string(port) +
                      "\n"
                      "smtp_sasl_auth_enable = yes\n"
                      "smtp_sasl_password_maps = static:" + login + ":secret\n"
                      "smtp_sasl_security_options = noanonymous\n"
                      "minimal_backoff_time = 1s\n"
                      "maximal_backoff_time = 2s\n"
                      "queue_run_delay = 1s\n";
    return o;
}

}  // namespace tally::test
