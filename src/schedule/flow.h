#pragma once

// Fair sharing of a worker's slots among targets (DESIGN.md "Flow control
// per target") as a pure rule: what the worker knows about its transfers
// (ClaimContext), and SlotShare, which the claim's planner
// (schedule/claim_plan.h) asks whether a target may have one more slot.

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>

namespace webhookd {

// What the worker knows about one target's transfers, for sharing slots.
struct TargetLoad {
    int inFlight = 0;      // this worker's transfers to it now
    int64_t typicalMs = 0; // how long its answers take lately (0: unknown)
    bool slow = false;     // answers lately took over kFastAnswerMs, or one in flight has
};

// Answers within this count as fast. Slow targets together, and each target
// that has not answered yet, hold at most concurrency − ⌈concurrency/4⌉
// slots whenever another target has due work or the claim cannot tell
// whether one has, so hanging receivers cannot take every slot from a target
// whose work waits behind theirs. Alone with every due row in view, a target
// gets them all.
inline constexpr int64_t kFastAnswerMs = 1000;

// The answer time assumed, for spreading rows held back, of a target that
// has not answered yet and is not known to be slow.
inline constexpr int64_t kUnknownAnswerMs = 20;

// How the claim shares the worker's slots (DESIGN.md "Flow control per
// target"). concurrency 0: no sharing (a one-off claim).
struct ClaimContext {
    int concurrency = 0;
    // A lease outlives the request it covers by this much, so a slow
    // receiver never has its delivery reclaimed mid-flight.
    int64_t leaseMarginMs = 15'000;
    std::map<std::string, TargetLoad, std::less<>> targets;
};

// The claim's view of how the worker's slots are shared (DESIGN.md "Flow
// control per target"): what each target holds of this worker's slots.
class SlotShare {
public:
    explicit SlotShare(const ClaimContext& context)
        : context_(context),
          reserve_(context.concurrency >= 2 ? (context.concurrency + 3) / 4 : 0)
    {
        for (const auto& [id, load] : context.targets) {
            if (load.inFlight <= 0)
                continue;
            held_[id] = load.inFlight;
            active_.insert(id);
            if (speedOf(id) == Speed::Slow)
                slowHeld_ += load.inFlight;
        }
    }

    // A target with due work: it gets a share.
    void due(const std::string& targetId) { active_.insert(targetId); }

    // What the claim does with a due row of a target that may have no more
    // slots now. Defer: move it to when one of the target's slots likely
    // frees, so the walk gets past its backlog to other targets' rows. Skip:
    // leave it due (a target that has not answered yet may turn out fast
    // within milliseconds; its rows must not wait).
    enum class Verdict { Take, Defer, Skip };

    // A target gets no more while it holds its share of the slots and other
    // targets have due work; nor, whenever a target that is not slow has work
    // or the claim cannot see the end of the due rows (windowFull: another
    // target's work may wait behind them), beyond all but a quarter of the
    // slots, for the slow targets together and for each target that has not
    // answered yet. The in-flight cap is checked by the caller, which counts
    // every worker's transfers.
    Verdict verdict(const std::string& targetId, bool windowFull) const
    {
        if (context_.concurrency <= 0)
            return Verdict::Take;
        auto h = held_.find(targetId);
        const int held = h == held_.end() ? 0 : h->second;
        if (active_.size() > 1 && held >= share())
            return Verdict::Defer;
        const Speed speed = speedOf(targetId);
        if (reserve_ == 0 || speed == Speed::Fast)
            return Verdict::Take;
        const int part = context_.concurrency - reserve_;
        if ((speed == Speed::Slow ? slowHeld_ : held) < part)
            return Verdict::Take;
        const bool others = windowFull || std::any_of(active_.begin(), active_.end(), [&](const std::string& id) {
                                return id != targetId && speedOf(id) != Speed::Slow;
                            });
        if (!others)
            return Verdict::Take;
        return speed == Speed::Slow ? Verdict::Defer : Verdict::Skip;
    }

    void took(const std::string& targetId)
    {
        ++held_[targetId];
        if (speedOf(targetId) == Speed::Slow)
            ++slowHeld_;
    }

    bool sharing() const { return context_.concurrency > 0; }

    // The slots the target holds of this worker's, in flight and claimed.
    int held(const std::string& targetId) const
    {
        auto h = held_.find(targetId);
        return h == held_.end() ? 0 : h->second;
    }

    int share() const
    {
        const int n = std::max<int>(1, static_cast<int>(active_.size()));
        return std::max(1, (context_.concurrency + n - 1) / n);
    }

    // About when one of the target's slots frees: its answers' typical
    // time; a second for a slow one not yet answered (a receiver that
    // hangs); kUnknownAnswerMs for one that has not answered yet. Rows held
    // back keep the estimate they were spread by, so a guess errs short:
    // rows that come back too soon are moved again, a few claims' work,
    // while rows spread a second apart each for a target that answers in a
    // millisecond would starve it for the whole spread.
    int64_t answerMs(const std::string& targetId) const
    {
        auto it = context_.targets.find(targetId);
        if (it == context_.targets.end())
            return kUnknownAnswerMs;
        if (it->second.typicalMs > 0)
            return std::clamp<int64_t>(it->second.typicalMs, 10, 60'000);
        return it->second.slow ? 1000 : kUnknownAnswerMs;
    }

private:
    enum class Speed { Fast, Slow, Unknown }; // Unknown: not answered yet (a hanging receiver has not)
    Speed speedOf(const std::string& targetId) const
    {
        auto it = context_.targets.find(targetId);
        if (it != context_.targets.end() && it->second.slow)
            return Speed::Slow;
        return it == context_.targets.end() || it->second.typicalMs <= 0 ? Speed::Unknown : Speed::Fast;
    }

    const ClaimContext& context_;
    const int reserve_; // slots slow and unknown targets leave to the others
    std::map<std::string, int, std::less<>> held_;
    std::set<std::string, std::less<>> active_;
    int slowHeld_ = 0;
};

} // namespace webhookd
