#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

// The database under stress and the clock in trouble (issue 7). Each storage
// case runs the real webhookctl and webhookd binaries against a real SQLite
// file and the real receiver: a write lock held for seconds by another
// process, a full disk, a read-only file, a WAL deleted or torn while
// webhookd is stopped, a database from a newer version. The clock cases run
// webhookd::Worker in-process on a FakeClock whose wall time jumps an hour.
//
// The disk-full and read-only cases mount a small tmpfs, which needs root (or
// CAP_SYS_ADMIN); where mounting is not permitted they are skipped with a
// message.

#include <signal.h>
#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <SQLiteCpp/SQLiteCpp.h>
#include <nlohmann/json.hpp>

#include "core/clock.h"
#include "storage/database.h"
#include "storage/deliveries.h"
#include "storage/events.h"
#include "storage/queue.h"
#include "storage/targets.h"
#include "support/fixture.h"
#include "support/print.h"
#include "support/process.h"
#include "support/store_fixture.h"
#include "support/temp_dir.h"
#include "worker/worker.h"

using namespace webhookd;
using namespace webhookd::test;
using namespace std::chrono_literals;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// The invariants that must hold however the file was treated.
void checkConsistent(const Fixture& fx)
{
    CHECK(fx.sqlText("PRAGMA integrity_check") == "ok");
    CHECK(fx.sqlInt("SELECT count(*) FROM pragma_foreign_key_check") == 0);
    CHECK(fx.sqlInt("SELECT count(*) FROM attempts a WHERE NOT EXISTS"
                    " (SELECT 1 FROM deliveries d WHERE d.id = a.delivery_id)") == 0);
    CHECK(fx.sqlInt("SELECT count(*) FROM deliveries d WHERE attempt_count !="
                    " (SELECT count(*) FROM attempts a WHERE a.delivery_id = d.id)") == 0);
    CHECK(fx.sqlInt("SELECT count(*) FROM deliveries WHERE event_id NOT IN (SELECT id FROM events)") == 0);
}

// A small tmpfs mounted under a TempDir, unmounted (lazily) at the end.
class SmallFs {
public:
    static std::optional<SmallFs> mount(const TempDir& dir, const std::string& size)
    {
        const std::string at = dir.file("fs");
        fs::create_directories(at);
        const std::string opts = "size=" + size + ",mode=0700";
        if (::mount("tmpfs", at.c_str(), "tmpfs", 0, opts.c_str()) != 0)
            return std::nullopt;
        return SmallFs(at);
    }
    SmallFs(SmallFs&& o) noexcept
        : at_(std::move(o.at_))
    {
        o.at_.clear();
    }
    ~SmallFs()
    {
        if (!at_.empty())
            ::umount2(at_.c_str(), MNT_DETACH);
    }
    std::string file(const std::string& name) const { return at_ + "/" + name; }
    bool remount(bool readOnly) const
    {
        return ::mount("tmpfs", at_.c_str(), "tmpfs", MS_REMOUNT | (readOnly ? MS_RDONLY : 0), nullptr) == 0;
    }

private:
    explicit SmallFs(std::string at)
        : at_(std::move(at))
    { }
    std::string at_;
};

// Writes until the filesystem is full; returns the bytes written.
int64_t fillUp(const std::string& path)
{
    std::FILE* f = std::fopen(path.c_str(), "wb");
    REQUIRE(f != nullptr);
    std::setvbuf(f, nullptr, _IONBF, 0);
    std::vector<char> chunk(4096, 'x');
    int64_t written = 0;
    for (;;) {
        size_t n = std::fwrite(chunk.data(), 1, chunk.size(), f);
        written += static_cast<int64_t>(n);
        if (n < chunk.size())
            break;
    }
    std::fclose(f);
    return written;
}

} // namespace

TEST_CASE("stress: another process holds the write lock for seconds; the worker waits and carries on")
{
    Receiver rx({"--script", "/held=200;delay=1500"});
    Fixture fx;
    fx.ctlOk({"target", "add", "held", "--url", rx.url("/held"), "--timeout", "5s"});
    fx.ctlOk({"target", "add", "later", "--url", rx.url("/later")});
    auto first = fx.sendBatch("held", 4);

    // --busy-timeout 1s: the lock outlasts it several times, so the worker's
    // claims and its recording of the four answers fail and are retried.
    Process worker = fx.startWorker({"--busy-timeout", "1s"});
    REQUIRE(waitUntil([&] { return fx.countStatus("in_progress") == 4; }, 15s));

    int64_t lockedForMs = 0;
    {
        // SQLite-specific: another process holding the file's write lock.
        SQLite::Database locker(fx.db(), SQLite::OPEN_READWRITE);
        locker.exec("PRAGMA busy_timeout = 5000");
        const auto t0 = Steady::now();
        locker.exec("BEGIN IMMEDIATE");
        locker.exec("UPDATE targets SET name = name WHERE id = 'held'");
        // The four answers arrive (1.5 s) while the lock is held.
        std::this_thread::sleep_for(4s);
        // A sender waits for the lock too (its own busy timeout).
        Process sender = Process::start({binary("WEBHOOKD_BIN_WEBHOOKCTL"), "--db", fx.db(), "--busy-timeout", "20s",
                                         "send", "locked.out", "--target", "later"});
        std::this_thread::sleep_for(2s);
        CHECK(sender.running());
        locker.exec("COMMIT");
        lockedForMs = std::chrono::duration_cast<std::chrono::milliseconds>(Steady::now() - t0).count();
        auto code = sender.waitFor(20s);
        INFO("send stderr: " << sender.stderrText());
        REQUIRE(code.has_value());
        CHECK(*code == 0);
    }
    CHECK(lockedForMs >= 6000);

    const bool done = waitUntil([&] { return fx.countStatus("delivered") == 5; }, 30s);
    CHECK(worker.running());
    worker.kill(SIGTERM);
    auto code = worker.waitFor(30s);
    INFO("webhookd stderr: " << worker.stderrText());
    CHECK(done);
    REQUIRE(code.has_value());
    CHECK(*code == 0);
    CHECK(contains(worker.stderrText(), "storage failure"));
    CHECK(contains(worker.stderrText(), "storage recovered"));
    // Each of the first four was sent once: the answers waited in memory and
    // were recorded after the lock, the leases held meanwhile.
    for (int64_t id : first)
        CHECK(fx.sqlInt("SELECT attempt_count FROM deliveries WHERE id = " + std::to_string(id)) == 1);
    CHECK(rx.stats()["by_path"]["/held"] == 4);
    checkConsistent(fx);
}

TEST_CASE("stress: a full disk fails writes cleanly; the worker backs off and resumes when space returns" *
          doctest::skip(::geteuid() != 0)) // mounting a tmpfs needs root
{
    TempDir dir;
    auto small = SmallFs::mount(dir, "4m");
    REQUIRE_MESSAGE(small, "mounting a tmpfs failed although the tests run as root");
    Receiver rx;
    Fixture fx({.dbPath = small->file("webhooks.db")});
    fx.ctlOk({"target", "add", "full", "--url", rx.url("/full"), "--initial-delay", "100ms", "--max-delay", "500ms"});
    fx.sendBatch("full", 10);

    // SQLite-specific: a connection kept open keeps the -shm file mapped and
    // sized for the worker; the WAL is emptied so that every write needs new space.
    SQLite::Database keeper(fx.db(), SQLite::OPEN_READWRITE);
    keeper.exec("PRAGMA busy_timeout = 5000");
    keeper.execAndGet("PRAGMA wal_checkpoint(TRUNCATE)");
    const std::string filler = small->file("filler");
    REQUIRE(fillUp(filler) > 0);

    // A send fails with one sentence and changes nothing.
    const int64_t eventsBefore = fx.sqlInt("SELECT count(*) FROM events");
    const std::string big = json{{"blob", std::string(200'000, 'y')}}.dump();
    auto r = fx.ctl({"send", "disk.full", "--target", "full", "--data", "-"}, big);
    CHECK(r.exitCode == 1);
    CHECK(oneSentence(r.err));
    CHECK_MESSAGE(contains(r.err, "full"), r.err);
    CHECK(fx.sqlInt("SELECT count(*) FROM events") == eventsBefore);

    // The worker cannot record anything: it logs storage failures and backs off.
    Process worker = fx.startWorker({"--busy-timeout", "1s"});
    const bool complained = waitUntil([&] { return contains(worker.stderrText(), "storage failure"); }, 20s);
    std::this_thread::sleep_for(1500ms);
    CHECK(worker.running());
    CHECK(complained);
    CHECK(fx.countStatus("delivered") == 0);

    // Space returns: everything goes out, nothing twice.
    fs::remove(filler);
    const bool delivered = waitUntil([&] { return fx.countStatus("delivered") == 10; }, 30s);
    worker.kill(SIGTERM);
    auto code = worker.waitFor(30s);
    INFO("webhookd stderr: " << worker.stderrText());
    CHECK(delivered);
    REQUIRE(code.has_value());
    CHECK(*code == 0);
    CHECK(contains(worker.stderrText(), "storage recovered"));
    // Requests whose answers could not be recorded may be sent again
    // (at-least-once), but every delivery was recorded exactly once.
    CHECK(rx.stats()["requests"].get<int>() >= 10);
    checkConsistent(fx);
}

TEST_CASE("stress: a read-only database file is refused by webhookd with one sentence and left as it was" *
          doctest::skip(::geteuid() != 0)) // mounting a tmpfs needs root
{
    TempDir dir;
    auto small = SmallFs::mount(dir, "4m");
    REQUIRE_MESSAGE(small, "mounting a tmpfs failed although the tests run as root");
    {
        Fixture fx({.dbPath = small->file("webhooks.db")});
        fx.ctlOk({"target", "add", "ro", "--url", "http://127.0.0.1:9/ro"});
        fx.sendBatch("ro", 3);
    }
    // Root may write a file whatever its mode, so the filesystem is made read-only.
    REQUIRE(small->remount(true));
    const std::string db = small->file("webhooks.db");
    const std::string before = readFile(db);

    auto r = run({binary("WEBHOOKD_BIN_WEBHOOKD"), "--db", db, "--allow-private-networks"});
    CHECK(r.exitCode == 1);
    INFO("stderr: " << r.err);
    CHECK(oneSentence(r.err));
    CHECK(contains(r.err, "read-only"));
    CHECK(readFile(db) == before);
    CHECK_FALSE(fs::exists(db + "-wal"));
    // Reads still work.
    auto list = run({binary("WEBHOOKD_BIN_WEBHOOKCTL"), "--db", db, "delivery", "list"});
    CHECK(list.exitCode == 0);
    CHECK(lines(list.out).size() >= 3);
    REQUIRE(small->remount(false));
}

TEST_CASE("stress: the WAL deleted or torn while webhookd is stopped; the database opens and stays consistent")
{
    // What is realistic: a clean stop checkpoints, so the WAL holds nothing
    // the database file lacks. Committed data can live only in the WAL after
    // a crash (kill -9) of the last process that had the file open; losing
    // that WAL loses those commits (SQLite cannot know them) but must never
    // leave a database that fails to open or is inconsistent.
    Receiver rx;

    {
        // After a clean stop, deleting the WAL loses nothing.
        Fixture fx;
        fx.ctlOk({"target", "add", "w", "--url", rx.url("/w")});
        fx.sendBatch("w", 5);
        fx.drain({"--lease", "1s"});
        fs::remove(fx.db() + "-wal");
        fs::remove(fx.db() + "-shm");
        CHECK(fx.countStatus("delivered") == 5);
        checkConsistent(fx);
    }

    for (const bool truncate : {false, true}) {
        CAPTURE(truncate);
        Fixture fx;
        fx.ctlOk({"target", "add", "w", "--url", rx.url("/w"), "--disabled"});
        fx.sendBatch("w", 5); // checkpointed: webhookctl was the last to close
        // With webhookd holding the file open, later commits stay in the WAL.
        Process worker = fx.startWorker();
        REQUIRE(waitUntil([&] { return contains(worker.stderrText(), "webhookd started"); }, 10s));
        for (int i = 0; i < 5; ++i)
            fx.sendBatch("w", 20, "wal.only");
        const auto walSize = fs::file_size(fx.db() + "-wal");
        REQUIRE(walSize > 0);
        worker.kill(SIGKILL);
        worker.wait();

        if (truncate)
            fs::resize_file(fx.db() + "-wal", walSize / 2); // a torn tail
        else
            fs::remove(fx.db() + "-wal");

        checkConsistent(fx);
        const int64_t events = fx.sqlInt("SELECT count(*) FROM events");
        CHECK(events >= 5); // what reached the database file survives
        CHECK(events <= 105);
        CHECK(events % 20 == 5); // whole batches only: none is half there
        CHECK(fx.sqlInt("SELECT count(*) FROM deliveries") == events);
        if (!truncate)
            CHECK(events == 5);

        // And it works: new events go in, everything is delivered.
        fx.ctlOk({"target", "enable", "w"});
        fx.sendBatch("w", 3, "after.recovery");
        fx.drain({"--lease", "1s"});
        CHECK(fx.countStatus("delivered") == events + 3);
        checkConsistent(fx);
    }
}

TEST_CASE("stress: a database written by a newer schema version is refused by webhookd and webhookctl")
{
    Fixture fx;
    {
        // SQLite-specific: the schema version is the file's user_version.
        SQLite::Database conn(fx.db(), SQLite::OPEN_READWRITE);
        conn.exec("PRAGMA user_version = " + std::to_string(Database::latestSchemaVersion() + 5));
    }
    auto d = run({binary("WEBHOOKD_BIN_WEBHOOKD"), "--db", fx.db(), "--allow-private-networks"});
    INFO("webhookd stderr: " << d.err);
    CHECK(d.exitCode == 1);
    CHECK(oneSentence(d.err));
    CHECK(contains(d.err, "newer"));
    for (std::vector<std::string> args : {std::vector<std::string>{"stats"}, {"send", "x.y"}, {"init"}}) {
        auto r = fx.ctl(args);
        INFO("webhookctl " << args[0] << " stderr: " << r.err);
        CHECK(r.exitCode == 1);
        CHECK(oneSentence(r.err));
        CHECK(contains(r.err, "newer"));
    }
    CHECK(fx.sqlInt("PRAGMA user_version") == Database::latestSchemaVersion() + 5);
}

// ---- the clock ----------------------------------------------------------------

namespace {

// A FakeClock that runs at real speed (a thread advances it), so libcurl
// and the receiver see time pass, while tests may jump its wall time.
class RunningClock {
public:
    RunningClock()
        : clock_(SystemClock::instance().nowMs()),
          thread_([this] { tick(); })
    { }
    ~RunningClock()
    {
        stop_ = true;
        thread_.join();
    }
    FakeClock& clock() { return clock_; }

private:
    void tick()
    {
        auto last = Steady::now();
        while (!stop_) {
            std::this_thread::sleep_for(2ms);
            const auto now = Steady::now();
            clock_.advance(std::chrono::duration_cast<std::chrono::milliseconds>(now - last).count());
            last = now;
        }
    }
    FakeClock clock_;
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

constexpr int64_t kHour = 3'600'000;

struct InProcess {
    TempDir dir;
    std::string path = dir.file("clock.db");
    Database db = openNew(path);

    void addTarget(const std::string& id, const std::string& url, const Clock& clock, int64_t initialDelayMs = 1000,
                   bool enabled = true)
    {
        TargetSpec spec;
        spec.url = url;
        spec.retrySchedule = std::vector<int64_t>{}; // the exponential formula, held at initialDelayMs
        spec.initialDelayMs = initialDelayMs;
        spec.maxDelayMs = initialDelayMs;
        spec.jitterFactor = 0.0;
        spec.timeoutMs = 5000;
        spec.enabled = enabled;
        auto t = webhookd::addTarget(db, id, spec, clock);
        REQUIRE_MESSAGE(t.has_value(), why(t));
    }

    int64_t send(const std::string& target, const Clock& clock)
    {
        EventInput e;
        e.type = "clock.test";
        e.targets = {target};
        auto r = sendEvent(db, e, clock);
        REQUIRE_MESSAGE(r.has_value(), why(r));
        return r->deliveryIds.at(0);
    }

    Delivery get(int64_t id)
    {
        auto d = getDelivery(db, id);
        REQUIRE_MESSAGE(d.has_value(), why(d));
        return *d;
    }
};

// The receiver's arrival times (its own real clock) of the requests on path.
std::vector<int64_t> arrivals(const Receiver& rx, const std::string& path)
{
    std::vector<int64_t> out;
    for (const auto& r : rx.requests())
        if (r["path"] == path)
            out.push_back(r["time_ms"].get<int64_t>());
    return out;
}

class RunningWorker {
public:
    RunningWorker(const std::string& path, const Clock& clock)
    {
        WorkerOptions opts;
        opts.database = path;
        opts.allowPrivateNetworks = true;
        opts.pollIntervalMs = 100;
        opts.concurrency = 4;
        auto w = Worker::create(opts, clock);
        REQUIRE_MESSAGE(w.has_value(), why(w));
        worker_ = std::move(*w);
        thread_ = std::thread([this] { result_ = worker_->run(); });
    }
    ~RunningWorker() { stop(); }
    void stop()
    {
        if (thread_.joinable()) {
            worker_->stop();
            thread_.join();
        }
    }
    const std::optional<Status>& result() const { return result_; }

private:
    std::unique_ptr<Worker> worker_;
    std::optional<Status> result_;
    std::thread thread_;
};

} // namespace

TEST_CASE("clock: the wall clock jumping back an hour stalls neither retries nor waiting deliveries")
{
    Receiver rx({"--script", "/retry=500,200"});
    RunningClock rc;
    FakeClock& clock = rc.clock();
    InProcess p;
    p.addTarget("retry", rx.url("/retry"), clock, 1000);
    p.addTarget("held", rx.url("/held"), clock, 1000, false);
    const int64_t retryId = p.send("retry", clock);
    std::vector<int64_t> held;
    for (int i = 0; i < 3; ++i)
        held.push_back(p.send("held", clock)); // pending, their target disabled

    RunningWorker worker(p.path, clock);
    REQUIRE(waitUntil([&] { return p.get(retryId).status == DeliveryStatus::Failed; }, 10s));
    const int64_t dueBefore = p.get(retryId).nextAttemptAt;

    clock.jumpWall(-kHour);
    auto enabled = setTargetEnabled(p.db, "held", true, clock);
    REQUIRE_MESSAGE(enabled.has_value(), why(enabled));

    const bool done = waitUntil(
        [&] {
            if (p.get(retryId).status != DeliveryStatus::Delivered)
                return false;
            return std::all_of(held.begin(), held.end(),
                               [&](int64_t id) { return p.get(id).status == DeliveryStatus::Delivered; });
        },
        10s);
    worker.stop();
    CHECK_MESSAGE(done, "deliveries stalled after the wall clock went back an hour");
    REQUIRE(worker.result().has_value());
    CHECK(worker.result()->has_value());

    // The retry kept its delay: about a second after the failure, not an hour
    // and not at once.
    auto times = arrivals(rx, "/retry");
    REQUIRE(times.size() == 2);
    CHECK(times[1] - times[0] >= 900);
    CHECK(times[1] - times[0] < 5000);
    Delivery d = p.get(retryId);
    CHECK(d.attemptCount == 2);
    REQUIRE(d.attempts.size() == 2);
    // Its stored schedule moved with the clock.
    CHECK(d.attempts[1].startedAt < dueBefore - kHour + 5000);
    CHECK(arrivals(rx, "/held").size() == 3);
}

TEST_CASE("clock: the wall clock jumping forward an hour neither reclaims this worker's leases nor hurries retries")
{
    Receiver rx({"--script", "/slow=200;delay=2000", "--script", "/later=500,200"});
    RunningClock rc;
    FakeClock& clock = rc.clock();
    InProcess p;
    p.addTarget("slow", rx.url("/slow"), clock);
    p.addTarget("later", rx.url("/later"), clock, 2500);
    const int64_t slowId = p.send("slow", clock);
    const int64_t laterId = p.send("later", clock);

    RunningWorker worker(p.path, clock);
    REQUIRE(waitUntil(
        [&] {
            return p.get(laterId).status == DeliveryStatus::Failed &&
                p.get(slowId).status == DeliveryStatus::InProgress;
        },
        10s));
    clock.jumpWall(kHour); // the slow request is in flight, the retry 2.5 s away

    const bool done = waitUntil(
        [&] {
            return p.get(slowId).status == DeliveryStatus::Delivered &&
                p.get(laterId).status == DeliveryStatus::Delivered;
        },
        15s);
    std::this_thread::sleep_for(300ms);
    worker.stop();
    CHECK(done);
    REQUIRE(worker.result().has_value());
    CHECK(worker.result()->has_value());

    // Sent once: its lease moved with the clock instead of expiring.
    CHECK(arrivals(rx, "/slow").size() == 1);
    CHECK(p.get(slowId).attemptCount == 1);
    // The retry waited its 2.5 s rather than going at once.
    auto times = arrivals(rx, "/later");
    REQUIRE(times.size() == 2);
    CHECK(times[1] - times[0] >= 2000);
}

TEST_CASE("clock: two workers seeing the same jump move the schedule once")
{
    FakeClock clock(1'700'000'000'000);
    InProcess p;
    p.addTarget("t", "http://127.0.0.1:9/t", clock);
    const int64_t id = p.send("t", clock);
    const int64_t t0 = clock.nowMs();
    {
        SQLite::Database conn(p.path, SQLite::OPEN_READWRITE);
        conn.exec("UPDATE deliveries SET status = 'failed', next_attempt_at = " + std::to_string(t0 + 5000) +
                  ", updated_at = " + std::to_string(t0) + " WHERE id = " + std::to_string(id));
    }
    auto second = Database::open(p.path);
    REQUIRE(second.has_value());
    Queue q1(p.db, "w1");
    Queue q2(*second, "w2");

    SUBCASE("back")
    {
        clock.jumpWall(-kHour);
        auto a = q1.shiftSchedule(-kHour, clock.nowMs() + 10);
        auto b = q2.shiftSchedule(-kHour, clock.nowMs() + 40);
        REQUIRE_MESSAGE(a.has_value(), why(a));
        REQUIRE_MESSAGE(b.has_value(), why(b));
        CHECK(*a == 1);
        CHECK(*b == 0);
        CHECK(p.get(id).nextAttemptAt == t0 + 5000 - kHour);
        // An event recorded after the jump is left alone.
        const int64_t fresh = p.send("t", clock);
        CHECK(q1.shiftSchedule(-kHour, clock.nowMs() + 60).value_or(-1) == 0);
        CHECK(p.get(fresh).nextAttemptAt == clock.nowMs());
    }
    SUBCASE("forward")
    {
        clock.jumpWall(kHour);
        auto a = q1.shiftSchedule(kHour, clock.nowMs() + 10);
        auto b = q2.shiftSchedule(kHour, clock.nowMs() + 40);
        REQUIRE(a.has_value());
        REQUIRE(b.has_value());
        CHECK(*a == 1);
        CHECK(*b == 0);
        CHECK(p.get(id).nextAttemptAt == t0 + 5000 + kHour);
    }
}
