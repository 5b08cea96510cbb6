// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* replication_fixture.cpp - two providers and a consumer from slapd-conf/multi-provider/, a delaying TCP proxy */
#include "replication_fixture.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <deque>
#include <fstream>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

namespace tally::test {

using SteadyClock = std::chrono::steady_clock;

std::string replace_all(std::string s, const std::string &from, const std::string &to) {
    for (std::size_t at = 0; (at = s.find(from, at)) != std::string::npos; at += to.size()) s.replace(at, from.size(), to);
    return s;
}

std::string multi_provider_example(const std::string &file, int port1, int port2, const ExampleOptions &o) {
    std::string t = read_text(source_path("slapd-conf/multi-provider/" + file));
    if (t.empty()) throw std::runtime_error("cannot read slapd-conf/multi-provider/" + file);
    auto loop = [](int port) { return "ldap://127.0.0.1:" + std::to_string(port) + "/"; };
    // syncrepl first: it may go elsewhere (a proxy) than the serverID URLs,
    // which must name the real listeners for slapd to find its own serverID.
    t = replace_all(t, "provider=ldap://ldap1.example.com/", "provider=" + loop(o.sync_port1 ? o.sync_port1 : port1));
    t = replace_all(t, "provider=ldap://ldap2.example.com/", "provider=" + loop(o.sync_port2 ? o.sync_port2 : port2));
    t = replace_all(t, "ldap://ldap1.example.com/", loop(port1));
    t = replace_all(t, "ldap://ldap2.example.com/", loop(port2));
    t = replace_all(t, "/var/lib/ldap", "@DIR@/db");
    t = replace_all(t, "/run/slapd", "@DIR@");
    t = replace_all(t, "/usr/share/tally/schema/tally.schema", source_path("schema/tally.schema"));
    t = replace_all(t, "/etc/ldap/tally-acl.conf", source_path("slapd-conf/tally-acl.conf"));
    t = replace_all(t, "moduleload      tally.so", "moduleload      " + openldap().tally_module);
    if (o.nosync) t = replace_all(t, "maxsize         1073741824", "maxsize         1073741824\ndbnosync");
    if (o.counters_in_account) {
        const std::string line = "tally-counter-database dc=example,dc=com\n";
        auto at = t.find("\n" + line);
        if (at == std::string::npos) throw std::runtime_error(file + ": expected the line " + line);
        t.erase(at + 1, line.size());
    }
    // Both examples end with the overlay's directives.
    if (!o.extra_tally_config.empty()) t += (t.ends_with("\n") ? "" : "\n") + o.extra_tally_config;
    if (o.tally_below_accesslog && file == "provider.conf") {  // a consumer has no accesslog
        // The last overlay configured runs first: move "overlay tally" and
        // its directives (the end of the file) up before accesslog's.
        auto tally = t.find("\noverlay         tally\n"), accesslog = t.find("\noverlay         accesslog\n");
        if (tally == std::string::npos || accesslog == std::string::npos || accesslog > tally)
            throw std::runtime_error("provider.conf: expected overlay accesslog before overlay tally");
        std::string block = t.substr(tally + 1);
        if (!block.ends_with("\n")) block += "\n";
        t = t.substr(0, tally + 1);
        t.insert(accesslog + 1, block + "\n");
    }
    return openldap().adapt(t);
}

bool wait_until(const std::function<bool()> &ok, int timeout_ms) {
    auto end = SteadyClock::now() + std::chrono::milliseconds(timeout_ms);
    while (SteadyClock::now() < end) {
        try {
            if (ok()) return true;
        } catch (...) {
            // not answering yet
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
}

std::uint64_t usage_on(const Slapd &s, const std::string &dn) {
    auto c = s.connect();
    auto r = charge_one(*c, dn, 0, 0, "", Mode::check);
    if (r.ldap.code != LDAP_SUCCESS) throw std::runtime_error("check failed: " + r.ldap.text);
    return used(r.response, "day");
}

// ---- DelayProxy ----

namespace {

/* proxy_link - the two sockets of one forwarded connection; closed when both pumps are done */
struct ProxyLink {
    int a = -1, b = -1;
    ~ProxyLink() {
        if (a >= 0) close(a);
        if (b >= 0) close(b);
    }
};

bool send_all(int fd, const char *p, std::size_t n) {
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        p += w;
        n -= static_cast<std::size_t>(w);
    }
    return true;
}

}  // namespace

struct DelayProxy::Impl {
    int target = 0;
    int listen_fd = -1;
    int port = 0;
    std::atomic<int> delay_ms{0};
    std::atomic<bool> stopping{false};
    std::atomic<std::uint64_t> accepted{0};
    std::mutex mu;  // guards links and pumps
    std::vector<std::shared_ptr<ProxyLink>> links;
    std::vector<std::thread> pumps;
    std::thread acceptor;

    /* pump - bytes from src to dst, each held until delay_ms after it was read */
    void pump(std::shared_ptr<ProxyLink> link, bool forward) {
        int src = forward ? link->a : link->b, dst = forward ? link->b : link->a;
        std::deque<std::pair<SteadyClock::time_point, std::string>> queue;
        SteadyClock::time_point last_due{};
        bool eof = false;
        std::vector<char> buf(65536);
        while (!stopping) {
            auto now = SteadyClock::now();
            int timeout = 100;
            if (!queue.empty()) {
                auto wait = std::chrono::ceil<std::chrono::milliseconds>(queue.front().first - now).count();
                timeout = static_cast<int>(std::clamp<long long>(wait, 0, 100));
            }
            if (!eof) {
                pollfd p{src, POLLIN, 0};
                int n = poll(&p, 1, timeout);
                if (n > 0) {
                    ssize_t r = read(src, buf.data(), buf.size());
                    if (r > 0) {
                        auto due = std::max(SteadyClock::now() + std::chrono::milliseconds(delay_ms.load()), last_due);
                        last_due = due;
                        queue.emplace_back(due, std::string(buf.data(), static_cast<std::size_t>(r)));
                    } else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
                        eof = true;
                    }
                }
            } else if (timeout > 0) {
                std::this_thread::sleep_for(std::chrono::milliseconds(timeout));
            }
            now = SteadyClock::now();
            while (!queue.empty() && queue.front().first <= now) {
                if (!send_all(dst, queue.front().second.data(), queue.front().second.size())) {
                    shutdown(src, SHUT_RDWR);  // the other side is gone: end this connection
                    shutdown(dst, SHUT_RDWR);
                    return;
                }
                queue.pop_front();
            }
            if (eof && queue.empty()) {
                shutdown(dst, SHUT_WR);
                return;
            }
        }
    }

    void accept_loop() {
        while (!stopping) {
            pollfd p{listen_fd, POLLIN, 0};
            if (poll(&p, 1, 100) <= 0) continue;
            int in = accept(listen_fd, nullptr, nullptr);
            if (in < 0) continue;
            int out = connect_loopback(target);
            if (out < 0) {
                close(in);  // the target is not up: the client sees the connection close, as if refused
                continue;
            }
            int one = 1;
            setsockopt(in, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            setsockopt(out, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            auto link = std::make_shared<ProxyLink>();
            link->a = in;
            link->b = out;
            ++accepted;
            std::lock_guard<std::mutex> g(mu);
            links.push_back(link);
            pumps.emplace_back([this, link] { pump(link, true); });
            pumps.emplace_back([this, link] { pump(link, false); });
        }
    }
};

DelayProxy::DelayProxy(int target_port, int delay_ms) : impl_(std::make_unique<Impl>()) {
    impl_->target = target_port;
    impl_->delay_ms = delay_ms;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, reinterpret_cast<sockaddr *>(&a), sizeof a) != 0 || listen(fd, 16) != 0 ||
        getsockname(fd, reinterpret_cast<sockaddr *>(&a), &len) != 0) {
        if (fd >= 0) close(fd);
        throw std::runtime_error("DelayProxy: cannot listen on loopback");
    }
    impl_->listen_fd = fd;
    impl_->port = ntohs(a.sin_port);
    impl_->acceptor = std::thread([this] { impl_->accept_loop(); });
}

DelayProxy::~DelayProxy() {
    impl_->stopping = true;
    impl_->acceptor.join();
    close(impl_->listen_fd);
    std::lock_guard<std::mutex> g(impl_->mu);
    for (auto &l : impl_->links) {
        shutdown(l->a, SHUT_RDWR);
        shutdown(l->b, SHUT_RDWR);
    }
    for (auto &t : impl_->pumps) t.join();
}

int DelayProxy::port() const { return impl_->port; }
void DelayProxy::set_delay(int ms) { impl_->delay_ms = ms; }
int DelayProxy::delay() const { return impl_->delay_ms; }
std::uint64_t DelayProxy::connections() const { return impl_->accepted; }

// ---- Cluster ----

namespace {

SlapdOptions cluster_options(std::string conf, bool clock) {
    SlapdOptions o;
    o.config_template = std::move(conf);
    o.load_sample = false;  // all start empty: the directory is added through p1
    o.controllable_clock = clock;
    return o;
}

std::unique_ptr<DelayProxy> proxy_if(bool proxied, int target, int delay_ms) {
    return proxied ? std::make_unique<DelayProxy>(target, delay_ms) : nullptr;
}

ExampleOptions sync_via(const std::unique_ptr<DelayProxy> &to_p1, const std::unique_ptr<DelayProxy> &to_p2,
                        const ClusterOptions &o) {
    ExampleOptions e;
    e.sync_port1 = to_p1 ? to_p1->port() : 0;
    e.sync_port2 = to_p2 ? to_p2->port() : 0;
    e.nosync = o.nosync;
    e.tally_below_accesslog = o.tally_below_accesslog;
    e.extra_tally_config = o.extra_tally_config;
    e.counters_in_account = o.counters_in_account;
    return e;
}

}  // namespace

Cluster::Cluster(ClusterOptions o)
    : opt(o),
      to_p1(proxy_if(o.proxied, port1, o.delay_ms)),
      to_p2(proxy_if(o.proxied, port2, o.delay_ms)),
      // Each provider reaches itself directly (slapd skips that stanza) and the other through its proxy.
      p1(port1, cluster_options(multi_provider_example("provider.conf", port1, port2, sync_via(nullptr, to_p2, o)),
                                o.controllable_clock)),
      p2(port2, cluster_options(multi_provider_example("provider.conf", port1, port2, sync_via(to_p1, nullptr, o)),
                                o.controllable_clock)),
      consumer(port3, cluster_options(multi_provider_example("consumer.conf", port1, port2, sync_via(nullptr, nullptr, o)),
                                      o.controllable_clock)) {}

void Cluster::start(std::int64_t clock) {
    if (clock) set_clock(clock);
    p1.start();
    if (opt.second_provider) p2.start();
    if (opt.consumer) consumer.start();
    // The directory is added through the first provider, so that it is in
    // the change log delta-syncrepl replays (a database loaded with slapadd
    // has an empty log: README.md, "Several providers").
    std::ofstream(p1.dir() + "/sample.ldif") << sample_ldif();
    int rc = run_command({"/usr/bin/ldapadd", "-x", "-H", p1.uri(), "-D", kRootDn, "-w", kRootPw, "-f",
                          p1.dir() + "/sample.ldif"},
                         p1.dir() + "/ldapadd.log");
    if (rc != 0) throw std::runtime_error("ldapadd through p1 failed: " + read_text(p1.dir() + "/ldapadd.log"));
    const std::string &carol = kCarol;  // the last entry of the sample
    for (Slapd *s : {&p2, &consumer})
        if (s->pid() > 0 && !wait_until([&] { return !ldap_values(*s->connect(), carol, "uid").empty(); }))
            throw std::runtime_error("the sample directory did not replicate to " + s->uri() + ": " + s->log());
    // And the other way: p1's syncrepl may have found p2 not yet up and be
    // waiting for its retry; a write on p2 shows when it has caught on.
    if (p2.pid() > 0) {
        const std::string ou = "ou=services,dc=example,dc=com";
        if (ldap_modify(*p2.connect(), ou, LDAP_MOD_REPLACE, "description", {"replicated from p2"}) != LDAP_SUCCESS)
            throw std::runtime_error("cannot write through p2");
        if (!wait_until([&] { return ldap_values(*p1.connect(), ou, "description") ==
                                     std::vector<std::string>{"replicated from p2"}; }))
            throw std::runtime_error("p2 does not replicate to p1: " + p1.log());
    }
}

void Cluster::set_clock(std::int64_t t) {
    for (Slapd *s : {&p1, &p2, &consumer}) s->set_clock(t);
}

void Cluster::set_delay(int ms) {
    if (!to_p1 || !to_p2) throw std::logic_error("Cluster::set_delay needs ClusterOptions::proxied");
    to_p1->set_delay(ms);
    to_p2->set_delay(ms);
}

bool Cluster::settled(const std::string &dn, std::uint64_t want, int timeout_ms) {
    return wait_until(
        [&] {
            for (const Slapd *s : {&p1, &p2, &consumer})
                if (s->pid() > 0 && usage_on(*s, dn) != want) return false;
            return true;
        },
        timeout_ms);
}

}  // namespace tally::test
