// The one table of config keys. Every INI key, `--section.key` flag, help line and default
// comes from here. Method switches follow docs/METHOD.md (section [method]); defaults are the
// TokenCLIP defaults, and configs/anomalyclip.ini sets the reference base.
#include "config/config.h"

namespace tc::config {
namespace {

Spec B(const char* key, const char* def, const char* help) {
  Spec s; s.key = key; s.type = Type::Bool; s.default_value = def; s.help = help; return s;
}
Spec I(const char* key, const char* def, const char* help, std::optional<double> lo = {},
       std::optional<double> hi = {}) {
  Spec s; s.key = key; s.type = Type::Int; s.default_value = def; s.help = help; s.min = lo; s.max = hi;
  return s;
}
Spec F(const char* key, const char* def, const char* help, std::optional<double> lo = {},
       bool lo_excl = false, std::optional<double> hi = {}) {
  Spec s; s.key = key; s.type = Type::Float; s.default_value = def; s.help = help; s.min = lo;
  s.min_exclusive = lo_excl; s.max = hi; return s;
}
Spec C(const char* key, const char* def, std::vector<std::string> choices, const char* help) {
  Spec s; s.key = key; s.type = Type::Choice; s.default_value = def; s.choices = std::move(choices);
  s.help = help; return s;
}
Spec IL(const char* key, const char* def, const char* help, std::optional<double> lo = {}) {
  Spec s; s.key = key; s.type = Type::IntList; s.default_value = def; s.help = help; s.min = lo;
  return s;
}

std::vector<Spec> build() {
  std::vector<Spec> t;
  // ---- [model]: the frozen CLIP backbone
  t.push_back(C("model.preset", "auto", {"auto", "tiny", "ViT-B-32", "ViT-B-16", "ViT-L-14", "ViT-L-14-336"},
                "backbone architecture; auto = inferred from the weights (tiny without weights)"));
  t.push_back(I("model.image_size", "0", "input size S (a multiple of the patch); 0 = preset default", 0));
  t.push_back(I("model.vv_from", "0",
                "first visual block (1-based) on the V-V path; 0 = preset default (last L-5 blocks); "
                "-1 = V-V path off", -1));
  t.push_back(IL("model.layers", "",
                 "visual blocks whose tokens feed the detector (1-based); empty = preset default (last)", 1));
  t.push_back(C("model.activation", "auto", {"auto", "quickgelu", "gelu"},
                "MLP activation; auto = QuickGELU for OpenAI .pt and tiny, config.json for HF, stored "
                "in tokenclip HDF5; open_clip files need it set (LAION models: gelu)"));
  t.push_back(I("model.init_seed", "0", "seed of the random initialisation (tiny preset without weights)", 0));
  t.push_back(C("model.precision", "fp32", {"fp32", "bf16", "fp16"},
                "image tower precision (autocast; bf16/fp16 on CUDA only)"));

  // ---- [method]: TokenCLIP on the AnomalyCLIP base (docs/METHOD.md section 4)
  t.push_back(I("method.prompt_length", "12", "learnable context tokens per prompt", 1));
  t.push_back(I("method.prompt_depth", "9", "deep text prompts are inserted before text blocks 2..depth", 1));
  t.push_back(I("method.deep_prompt_length", "4", "deep prompt tokens (overwrite positions 1..n)", 1));
  t.push_back(B("method.deep_prompt_fp16_round", "true", "round deep prompts through fp16 as the reference does"));
  t.push_back(B("method.decouple_prompts", "true", "separate global and local prompt learners"));
  t.push_back(I("method.subspaces", "4", "number of textual subspaces Q", 1));
  t.push_back(C("method.subspace_mode", "projection", {"projection", "prompts"},
                "how subspaces are made: a linear head on the base text space, or Q prompt learners"));
  t.push_back(B("method.subspace_residual", "true", "projection mode: t^q = normalize(t + W_q t + b_q)"));
  t.push_back(I("method.topk", "2", "subspaces kept per token after OT (k <= Q)", 1));
  t.push_back(C("method.assign", "ot", {"ot", "greedy"}, "token-to-subspace assignment: entropic OT or greedy softmax"));
  t.push_back(F("method.ot_eps", "0.1", "entropic regularisation eps", 0.0, true));
  t.push_back(F("method.ot_tol", "1e-4", "Sinkhorn stops when the max marginal violation is below this", 0.0, true));
  t.push_back(I("method.ot_max_iters", "100", "Sinkhorn iteration cap", 1));
  t.push_back(C("method.ot_subspace_marginal", "uniform", {"uniform", "learned"},
                "subspace marginal nu: uniform 1/Q, or softmax of a learnable Q-vector"));
  t.push_back(B("method.ot_backprop", "false", "backpropagate through the unrolled Sinkhorn iterations"));
  t.push_back(C("method.ot_cost", "max", {"max", "centre"}, "OT cost: 1 - max_c s_iqc, or 1 - <f_i, centre_q>"));
  t.push_back(B("method.dyn_loss", "true", "add the focal + dice losses on the dynamic probabilities"));
  t.push_back(C("method.map_source", "dyn", {"dyn", "base"}, "probabilities that form the anomaly map"));
  t.push_back(F("method.lambda_loc", "4", "weight of the local (pixel) losses", 0.0));
  t.push_back(F("method.lambda_reg", "1", "weight of the orthogonality regulariser", 0.0));
  t.push_back(F("method.beta", "0", "map = dyn + beta * base (map_source = dyn)", 0.0));
  t.push_back(F("method.gamma", "0", "image score = (1-gamma) global + gamma max(map)/layers", 0.0, false, 1.0));
  t.push_back(F("method.temperature", "0.07", "softmax temperature tau", 0.0, true));
  t.push_back(C("method.text", "learned", {"learned", "handwritten"},
                "text features: learned prompts, or the hand-written prompts below (no prompt learning; "
                "`train` then only writes the checkpoint)"));
  {
    Spec s; s.key = "method.handwritten_normal"; s.type = Type::StringList;
    s.default_value = "a photo of a flawless object, a photo of a perfect object, a photo of an unblemished object, "
                      "a photo of a normal object";
    s.help = "method.text = handwritten: prompts of the normal state (their mean embedding; WinCLIP's states)";
    t.push_back(s);
    s.key = "method.handwritten_abnormal";
    s.default_value = "a photo of a damaged object, a photo of a broken object, a photo of a defective object, "
                      "a photo of a flawed object";
    s.help = "method.text = handwritten: prompts of the anomalous state";
    t.push_back(s);
  }

  // ---- [train]
  t.push_back(I("train.global_batch", "8", "samples per optimiser step, split across ranks", 1));
  t.push_back(I("train.epochs", "15", "training epochs (the last epoch is the model)", 1));
  t.push_back(F("train.lr", "1e-3", "Adam learning rate", 0.0, true));
  t.push_back(F("train.beta1", "0.5", "Adam beta1", 0.0, false, 1.0));
  t.push_back(F("train.beta2", "0.999", "Adam beta2", 0.0, false, 1.0));
  t.push_back(I("train.seed", "111", "seed of parameter init and data order", 0));
  t.push_back(B("train.shuffle", "true", "shuffle the data every epoch (permutation from seed, epoch)"));
  t.push_back(I("train.save_every_steps", "0", "also checkpoint every N steps (0 = per epoch only)", 0));
  t.push_back(I("train.log_every_steps", "1", "write a JSONL log line every N steps", 1));

  // ---- [pretrain]: contrastive pretraining of a whole CLIP (tokenclip pretrain, docs/PRETRAIN.md)
  t.push_back(I("pretrain.global_batch", "64", "image-caption pairs per optimiser step, split across ranks", 1));
  t.push_back(I("pretrain.epochs", "10", "passes over the corpus", 1));
  t.push_back(F("pretrain.lr", "5e-4", "peak AdamW learning rate", 0.0, true));
  t.push_back(C("pretrain.schedule", "cosine", {"cosine", "constant"},
                "learning rate: linear warmup then cosine decay to 0 (CLIP), or constant after warmup"));
  t.push_back(I("pretrain.warmup_steps", "100", "linear warmup steps", 0));
  t.push_back(F("pretrain.beta1", "0.9", "AdamW beta1", 0.0, false, 1.0));
  t.push_back(F("pretrain.beta2", "0.98", "AdamW beta2", 0.0, false, 1.0));
  t.push_back(F("pretrain.eps", "1e-6", "AdamW epsilon", 0.0, true));
  t.push_back(F("pretrain.weight_decay", "0.1", "decoupled weight decay of the weight matrices (not biases, norms, logit scale)", 0.0));
  t.push_back(I("pretrain.seed", "0", "seed of the initial weights and of the data order", 0));
  t.push_back(C("pretrain.readout", "both", {"embed", "global", "both"},
                "image feature(s) of the contrastive loss: CLIP's embedding (ln_post), the detector's global feature (no ln_post), or both"));
  t.push_back(F("pretrain.dense_weight", "1", "weight of the patch-text term (0 = CLIP's loss only)", 0.0));
  t.push_back(F("pretrain.dense_temperature", "0.07", "temperature of the patch-text and state terms (the detector's tau)", 0.0, true));
  t.push_back(F("pretrain.dense_cover_full", "0.05",
                "share of defect pixels from which a patch counts as fully defective in the patch-text term", 0.0, true, 1.0));
  t.push_back(F("pretrain.state_weight", "1",
                "weight of the state term: the global feature against the caption's flawless / defect texts (0 = off)", 0.0));
  {
    Spec s; s.key = "pretrain.dense_defects"; s.type = Type::StringList;
    s.default_value = "draem, cutpaste, scar, nsa, scratch, stain";
    s.help = "defect types whose masks the patch-text term may use (normal images always count); the "
             "default is the training-style family, so no mask of an evaluation set's defect type is seen";
    t.push_back(s);
  }
  t.push_back(F("pretrain.logit_scale_max", "100", "clamp of the learned logit scale exp(s) (CLIP: 100)", 1.0));
  t.push_back(C("pretrain.export_precision", "fp32", {"fp32", "fp16"}, "storage of OUT/weights.h5"));
  t.push_back(I("pretrain.save_every_steps", "0", "also checkpoint every N steps (0 = per epoch only)", 0));
  t.push_back(I("pretrain.log_every_steps", "1", "write a JSONL log line every N steps", 1));

  // ---- [eval]
  t.push_back(C("eval.aupro", "both", {"anomalyclip", "mvtec", "both"}, "AUPRO variant(s) to report"));
  t.push_back(F("eval.blur_sigma", "4", "Gaussian blur sigma of the anomaly map (0 = off)", 0.0));
  t.push_back(I("eval.batch", "8", "images per forward pass in evaluation and inference", 1));

  // ---- [runtime]: how to run, not what to compute (not part of the config hash)
  t.push_back(I("runtime.threads", "0", "torch intra-op threads per rank; 0 = cores / ranks on this node", 0));
  t.push_back(C("runtime.device", "auto", {"auto", "cpu", "cuda"}, "compute device; auto = cuda when available"));
  t.push_back(C("runtime.comm", "auto", {"auto", "mpi", "nccl", "single"},
                "gradient sync backend; auto = nccl on CUDA devices, mpi otherwise"));
  t.push_back(I("runtime.comm_timeout_s", "600", "the longest any rank waits for a peer (every collective and send/recv, any backend); past it the job ends (exit 5) naming the silent rank. Raise it when one rank is legitimately slower for that long (rank 0 alone writing a large checkpoint, pictures or a cache)", 1));
  return t;
}

}  // namespace

const std::vector<Spec>& schema() {
  static const std::vector<Spec> table = build();
  return table;
}

std::vector<std::string> schema_sections() {
  std::vector<std::string> out;
  for (const auto& s : schema())
    if (out.empty() || out.back() != s.section()) out.push_back(s.section());
  return out;
}

}  // namespace tc::config
