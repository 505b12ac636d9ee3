// MaskSpec parsing, building and closed-form pair counts (kernels/common/attention/mask_spec.h).
#include "kernels/common/attention/mask_spec.h"

#include <algorithm>
#include <charconv>
#include <numeric>
#include <stdexcept>

namespace talklab::attention {
namespace {

struct NameParam {
  std::string_view name;
  std::string_view param;  // empty when absent
};

NameParam split_param(std::string_view s) {
  const auto colon = s.find(':');
  if (colon == std::string_view::npos) return {s, {}};
  return {s.substr(0, colon), s.substr(colon + 1)};
}

template <class T>
T parse_number(std::string_view s, std::string_view whole) {
  T v{};
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size())
    throw std::invalid_argument("MaskSpec: bad parameter in '" + std::string(whole) + "'");
  return v;
}

}  // namespace

MaskSpec MaskSpec::parse(std::string_view name) {
  MaskSpec s;
  const auto plus = name.find('+');
  const NameParam m = split_param(name.substr(0, plus));
  if (m.name == "full") s.mask = MaskKind::full;
  else if (m.name == "causal") s.mask = MaskKind::causal;
  else if (m.name == "sliding_window") s.mask = MaskKind::sliding_window;
  else if (m.name == "document") s.mask = MaskKind::document;
  else if (m.name == "prefix_lm") s.mask = MaskKind::prefix_lm;
  else throw std::invalid_argument("MaskSpec: unknown mask '" + std::string(name) + "'");
  if (!m.param.empty()) {
    if (s.mask == MaskKind::sliding_window) s.window = parse_number<int>(m.param, name);
    else if (s.mask == MaskKind::prefix_lm) s.prefix = parse_number<int>(m.param, name);
    else throw std::invalid_argument("MaskSpec: mask takes no parameter: '" + std::string(name) + "'");
  }
  if (plus != std::string_view::npos) {
    const NameParam sc = split_param(name.substr(plus + 1));
    if (sc.name == "softcap") s.score = ScoreKind::softcap;
    else if (sc.name == "alibi") s.score = ScoreKind::alibi;
    else if (sc.name == "rel_bias") s.score = ScoreKind::rel_bias;
    else throw std::invalid_argument("MaskSpec: unknown score mod in '" + std::string(name) + "'");
    if (!sc.param.empty()) {
      if (s.score == ScoreKind::softcap) s.softcap = parse_number<float>(sc.param, name);
      else if (s.score == ScoreKind::rel_bias) s.rel_max_distance = parse_number<int>(sc.param, name);
      else throw std::invalid_argument("MaskSpec: score mod takes no parameter: '" + std::string(name) + "'");
    }
  }
  return s;
}

std::string MaskSpec::name() const {
  std::string n;
  switch (mask) {
    case MaskKind::full: n = "full"; break;
    case MaskKind::causal: n = "causal"; break;
    case MaskKind::sliding_window: n = "sliding_window:" + std::to_string(window); break;
    case MaskKind::document: n = "document"; break;
    case MaskKind::prefix_lm: n = "prefix_lm:" + std::to_string(prefix); break;
  }
  switch (score) {
    case ScoreKind::none: break;
    case ScoreKind::softcap: {
      char buf[32];
      const auto r = std::to_chars(buf, buf + sizeof buf, softcap);
      n += "+softcap:" + std::string(buf, r.ptr);
      break;
    }
    case ScoreKind::alibi: n += "+alibi"; break;
    case ScoreKind::rel_bias: n += "+rel_bias:" + std::to_string(rel_max_distance); break;
  }
  return n;
}

BuiltMods build_mods(const MaskSpec& spec, int64_t H, int64_t S_q, int64_t S_kv) {
  BuiltMods m;
  m.spec = spec;
  switch (spec.mask) {
    case MaskKind::sliding_window:
      if (spec.window < 1) throw std::invalid_argument("MaskSpec: sliding_window needs window >= 1");
      m.sliding_window.window = spec.window;
      break;
    case MaskKind::prefix_lm: m.prefix_lm.prefix = spec.prefix; break;
    case MaskKind::document: {
      const int64_t total = std::accumulate(spec.doc_lengths.begin(), spec.doc_lengths.end(), int64_t(0));
      if (total != S_q || total != S_kv)
        throw std::invalid_argument("MaskSpec: document lengths must sum to S_q = S_kv");
      m.document = document_mask(spec.doc_lengths);
      break;
    }
    default: break;
  }
  switch (spec.score) {
    case ScoreKind::softcap:
      if (!(spec.softcap > 0.0f)) throw std::invalid_argument("MaskSpec: softcap must be > 0");
      m.softcap.cap = spec.softcap;
      break;
    case ScoreKind::alibi: {
      std::vector<float> slopes = spec.alibi_slopes.empty() ? alibi_slopes(int(H)) : spec.alibi_slopes;
      if (int64_t(slopes.size()) != H) throw std::invalid_argument("MaskSpec: need one ALiBi slope per head");
      m.alibi = alibi_score(std::move(slopes));
      break;
    }
    case ScoreKind::rel_bias:
      if (spec.rel_max_distance < 0 ||
          int64_t(spec.rel_bias.size()) != H * (2 * int64_t(spec.rel_max_distance) + 1))
        throw std::invalid_argument("MaskSpec: rel_bias table must be (H, 2 * rel_max_distance + 1)");
      m.rel_bias = rel_bias_score(spec.rel_bias, spec.rel_max_distance);
      break;
    case ScoreKind::none: break;
  }
  return m;
}

BlockMask block_mask_for(const MaskSpec& spec, int64_t S_q, int64_t S_kv, int q_block, int kv_block) {
  switch (spec.mask) {
    case MaskKind::causal: return block_mask_causal(S_q, S_kv, q_block, kv_block);
    case MaskKind::sliding_window:
      return block_mask_sliding_window(S_q, S_kv, spec.window, q_block, kv_block);
    case MaskKind::document: return block_mask_document(spec.doc_lengths, q_block, kv_block);
    case MaskKind::prefix_lm: return block_mask_prefix_lm(S_q, S_kv, spec.prefix, q_block, kv_block);
    case MaskKind::full: break;
  }
  return block_mask_full(S_q, S_kv, q_block, kv_block);
}

int64_t visible_pairs(const MaskSpec& spec, int64_t S_q, int64_t S_kv) {
  int64_t total = 0;
  if (spec.mask == MaskKind::full) return S_q * S_kv;
  std::vector<int32_t> start;
  if (spec.mask == MaskKind::document) start = *document_mask(spec.doc_lengths).starts;
  for (int64_t q = 0; q < S_q; ++q) {
    int64_t lo = 0, hi = std::min(q, S_kv - 1);  // visible keys [lo, hi]
    if (spec.mask == MaskKind::sliding_window) lo = q - spec.window + 1;
    if (spec.mask == MaskKind::prefix_lm) hi = std::min(std::max<int64_t>(q, spec.prefix - 1), S_kv - 1);
    if (spec.mask == MaskKind::document) lo = start[size_t(q)];
    total += std::max<int64_t>(0, hi - std::max<int64_t>(lo, 0) + 1);
  }
  return total;
}

}  // namespace talklab::attention
