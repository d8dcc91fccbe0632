// Learning a small byte-level BPE vocabulary from texts, in OpenAI's bpe file format, so that
// a model pretrained here (`tokenclip pretrain`) ships with a vocabulary of its own: words of
// the texts become single tokens, anything else still tokenises byte by byte.
//
// The texts go through the tokenizer's own pipeline (clean_text, pre_tokenize,
// bytes_to_unicode), so a learned word is the token the tokenizer produces for it. Merges are
// learned greedily as in Sennrich et al.: count adjacent symbol pairs over the words weighted
// by frequency, merge the most frequent pair everywhere (ties: the lexicographically smallest
// "a b"), repeat. The file is what Tokenizer::from_openai_bpe reads: a header line, then one
// "a b" merge per line in rank order; ids are the 512 byte symbols, one per merge, SOT, EOT.
#pragma once

#include <string>
#include <vector>

namespace tc::clip {

struct BpeLearnOptions {
  int max_merges = 4000;  // at most this many merges (the vocabulary is 514 + merges)
  int min_count = 1;      // stop when the most frequent pair occurs fewer times
};

struct LearnedBpe {
  std::vector<std::string> merges;  // "a b", in rank order
  int words = 0;                    // distinct pre-tokens seen
  int single_token_words = 0;       // of those, how many end as one token
  std::string file_text() const;    // the bpe file (header + merges, no trailing newline)
  int vocab_size() const { return 514 + static_cast<int>(merges.size()); }
};

LearnedBpe learn_bpe(const std::vector<std::string>& texts, const BpeLearnOptions& options = {});

}  // namespace tc::clip
