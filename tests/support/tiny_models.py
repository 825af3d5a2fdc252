"""Tiny random-weight models built offline (no hub), so tests run real loaders on the CPU in seconds."""

from __future__ import annotations

from pathlib import Path

SPECIALS = ["<pad>", "<s>", "</s>", "<unk>", "<image>"]

CHAT_TEMPLATE = (
    "{% for message in messages %}{{ message['role'] }}: "
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}<image>{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}\n{% endfor %}{% if add_generation_prompt %}assistant:{% endif %}"
)


def _byte_level_tokenizer():
    """A byte-level BPE tokenizer without merges: it encodes any text, the vocabulary is 256 bytes + specials."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {token: i for i, token in enumerate(SPECIALS)}
    for symbol in sorted(alphabet):
        vocab.setdefault(symbol, len(vocab))
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(SPECIALS)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                   pad_token="<pad>")
    fast.chat_template = CHAT_TEMPLATE
    return fast


def build_tiny_llava(path: Path) -> Path:
    import torch
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )

    torch.manual_seed(0)
    tokenizer = _byte_level_tokenizer()
    image_processor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32},
                                         do_center_crop=True)
    processor = LlavaProcessor(image_processor=image_processor, tokenizer=tokenizer, patch_size=16,
                               vision_feature_select_strategy="default", chat_template=CHAT_TEMPLATE,
                               num_additional_image_tokens=1)
    vision = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                              image_size=32, patch_size=16)
    text = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=4096,
                       bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                       pad_token_id=tokenizer.pad_token_id)
    config = LlavaConfig(vision_config=vision, text_config=text, image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
                         vision_feature_select_strategy="default", vision_feature_layer=-1)
    model = LlavaForConditionalGeneration(config).eval()
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path


def build_tiny_causal_lm(path: Path) -> Path:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    tokenizer = _byte_level_tokenizer()
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=4096,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    LlamaForCausalLM(config).eval().save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


# Qwen3-style chat templates (ChatML turns). The guard's template frames the whole conversation as material to
# moderate and opens the reply itself, as Qwen3Guard-Gen's does, so it is applied without a generation prompt.
QWEN_SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
QWEN_CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
QWEN_GUARD_TEMPLATE = (
    "<|im_start|>user\nModerate the last turn of this conversation.\n"
    "{% for m in messages %}{{ m['role'] | upper }}: {{ m['content'] }}\n{% endfor %}"
    "Reply with Safety, Categories and Refusal lines.<|im_end|>\n{{ '<|im_start|>assistant\\n' }}"
)


def _qwen_tokenizer(template: str):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {token: i for i, token in enumerate(QWEN_SPECIALS)}
    for symbol in sorted(pre_tokenizers.ByteLevel.alphabet()):
        vocab.setdefault(symbol, len(vocab))
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(QWEN_SPECIALS)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    fast.chat_template = template
    return fast


def build_tiny_qwen3(path: Path, guard: bool = False, seed: int = 0) -> Path:
    """A tiny random-weight ``Qwen3ForCausalLM`` with a chat-templated tokenizer, saved like a hub checkpoint
    (``guard=True``: a Qwen3Guard-Gen-style template). Its generation_config samples by default, as Qwen's
    checkpoints do, so a caller that wants greedy decoding has to ask for it."""
    import torch
    from transformers import GenerationConfig, Qwen3Config, Qwen3ForCausalLM

    torch.manual_seed(seed)
    tokenizer = _qwen_tokenizer(QWEN_GUARD_TEMPLATE if guard else QWEN_CHAT_TEMPLATE)
    eos, pad = tokenizer.convert_tokens_to_ids("<|im_end|>"), tokenizer.convert_tokens_to_ids("<|endoftext|>")
    config = Qwen3Config(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, head_dim=16, max_position_embeddings=8192,
                         tie_word_embeddings=True, initializer_range=0.5, bos_token_id=pad, eos_token_id=eos, pad_token_id=pad)
    model = Qwen3ForCausalLM(config).eval()
    model.generation_config = GenerationConfig(do_sample=True, temperature=0.7, top_p=0.8, top_k=20,
                                               bos_token_id=pad, eos_token_id=[eos, pad], pad_token_id=pad)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


# ------------------------------------------------------------------------------ generation media models
def _clip_tokenizer():
    """A CLIP BPE tokenizer without merges: every byte-level symbol, and its end-of-word form, is a token."""
    from tokenizers import pre_tokenizers
    from transformers import CLIPTokenizer

    symbols = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for symbol in symbols + [s + "</w>" for s in symbols]:
        vocab.setdefault(symbol, len(vocab))
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)


def _t5_tokenizer():
    """A unigram T5 tokenizer over lower-case letters, digits and a little punctuation."""
    from transformers import T5Tokenizer

    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("\u2581", -1.0)]
    pieces += [(c, -2.0) for c in "abcdefghijklmnopqrstuvwxyz0123456789.,'?!-"]
    return T5Tokenizer(vocab=pieces, extra_ids=0, model_max_length=512)


def build_tiny_sd3(path: Path) -> Path:
    """A tiny random-weight ``StableDiffusion3Pipeline`` (MMDiT transformer, VAE, flow-matching scheduler, two
    CLIP text encoders and a T5 encoder, locally made tokenizers), saved like a hub checkpoint. Its VAE does not
    downsample and its transformer patch is 1 pixel, so any width and height work; the default size is 32x32."""
    import torch
    from diffusers import (
        AutoencoderKL,
        FlowMatchEulerDiscreteScheduler,
        SD3Transformer2DModel,
        StableDiffusion3Pipeline,
    )
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection, T5Config, T5EncoderModel

    tokenizer, tokenizer_3 = _clip_tokenizer(), _t5_tokenizer()
    torch.manual_seed(0)
    transformer = SD3Transformer2DModel(sample_size=32, patch_size=1, in_channels=4, out_channels=4, num_layers=1,
                                        attention_head_dim=8, num_attention_heads=4, caption_projection_dim=32,
                                        joint_attention_dim=32, pooled_projection_dim=64)
    clip = CLIPTextConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=37, num_hidden_layers=2,
                          num_attention_heads=4, projection_dim=32, max_position_embeddings=77, bos_token_id=0,
                          eos_token_id=1, pad_token_id=1, hidden_act="gelu")
    text_encoder, text_encoder_2 = CLIPTextModelWithProjection(clip), CLIPTextModelWithProjection(clip)
    text_encoder_3 = T5EncoderModel(T5Config(vocab_size=len(tokenizer_3), d_model=32, d_kv=8, d_ff=37, num_layers=1,
                                             num_heads=4, relative_attention_num_buckets=8))
    vae = AutoencoderKL(sample_size=32, in_channels=3, out_channels=3, block_out_channels=(4,), layers_per_block=1,
                        latent_channels=4, norm_num_groups=1, use_quant_conv=False, use_post_quant_conv=False,
                        shift_factor=0.0609, scaling_factor=1.5035)
    pipe = StableDiffusion3Pipeline(transformer=transformer, scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae,
                                    text_encoder=text_encoder, tokenizer=tokenizer, text_encoder_2=text_encoder_2,
                                    tokenizer_2=tokenizer, text_encoder_3=text_encoder_3, tokenizer_3=tokenizer_3)
    pipe.save_pretrained(path)
    return path


def build_tiny_vits(path: Path, num_speakers: int = 2, sampling_rate: int = 8000) -> Path:
    """A tiny random-weight multi-speaker ``VitsModel`` with a character-level ``VitsTokenizer`` (no phonemizer)."""
    import json
    import tempfile

    import torch
    from transformers import VitsConfig, VitsModel, VitsTokenizer

    symbols = ["<pad>"] + list(" abcdefghijklmnopqrstuvwxyz0123456789'.,?!-") + ["<unk>"]
    with tempfile.TemporaryDirectory() as scratch:
        vocab = Path(scratch) / "vocab.json"
        vocab.write_text(json.dumps({s: i for i, s in enumerate(symbols)}), encoding="utf-8")
        tokenizer = VitsTokenizer(str(vocab), phonemize=False, add_blank=True, normalize=True)
    torch.manual_seed(0)
    config = VitsConfig(vocab_size=len(symbols), hidden_size=16, num_hidden_layers=2, num_attention_heads=2, ffn_dim=32,
                        flow_size=16, spectrogram_bins=9, upsample_initial_channel=16, upsample_rates=[4, 4],
                        upsample_kernel_sizes=[8, 8], resblock_kernel_sizes=[3], resblock_dilation_sizes=[[1, 3]],
                        duration_predictor_filter_channels=16, prior_encoder_num_flows=2,
                        prior_encoder_num_wavenet_layers=1, posterior_encoder_num_wavenet_layers=1,
                        duration_predictor_num_flows=2, depth_separable_num_layers=2, num_speakers=num_speakers,
                        speaker_embedding_size=8 if num_speakers > 1 else 0, sampling_rate=sampling_rate)
    VitsModel(config).eval().save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def build_tiny_sentence_transformer(path: Path) -> Path:
    """A tiny sentence-transformers model: a random-weight BERT (word-piece vocabulary of characters) with
    mean pooling, saved as a sentence-transformers folder."""
    import tempfile

    import torch
    from transformers import BertConfig, BertModel, BertTokenizer

    try:  # sentence-transformers 6 moved the modules; 3.x-5.x have them under `models`
        from sentence_transformers import SentenceTransformer
        from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    except ImportError:
        from sentence_transformers import SentenceTransformer
        from sentence_transformers.models import Pooling, Transformer

    characters = "abcdefghijklmnopqrstuvwxyz0123456789"
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + list(characters + ".,?!'-") + [f"##{c}" for c in characters]
    tokenizer = BertTokenizer(vocab={w: i for i, w in enumerate(words)}, do_lower_case=True)
    torch.manual_seed(0)
    bert = BertModel(BertConfig(vocab_size=len(words), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                intermediate_size=64, max_position_embeddings=128))
    with tempfile.TemporaryDirectory() as scratch:
        bert.save_pretrained(scratch)
        tokenizer.save_pretrained(scratch)
        encoder = Transformer(scratch, max_seq_length=64)
        size = getattr(encoder, "get_embedding_dimension", None) or encoder.get_word_embedding_dimension
        model = SentenceTransformer(modules=[encoder, Pooling(size(), pooling_mode="mean")], device="cpu")
        model.save(str(path))
    return path


def build_tiny_clip(path: Path) -> Path:
    """A random-weight CLIPModel with a byte-level tokenizer (BOS/EOS added, EOS id != 2 so the text tower pools at
    EOS) and an image processor, saved like a hub checkpoint."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, PreTrainedTokenizerFast

    torch.manual_seed(0)
    specials = ["<pad>", "<unk>", "<s>", "</s>"]
    vocab = {token: i for i, token in enumerate(specials)}
    for symbol in sorted(pre_tokenizers.ByteLevel.alphabet()):
        vocab.setdefault(symbol, len(vocab))
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(specials)
    tok.post_processor = processors.TemplateProcessing(single="<s> $A </s>", special_tokens=[("<s>", 2), ("</s>", 3)])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                        pad_token="<pad>")
    config = CLIPConfig(
        text_config={"vocab_size": len(vocab), "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
                     "num_attention_heads": 2, "max_position_embeddings": 128, "bos_token_id": 2, "eos_token_id": 3,
                     "pad_token_id": 0},
        vision_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2,
                       "image_size": 32, "patch_size": 16},
        projection_dim=16, logit_scale_init_value=1.0)
    CLIPModel(config).eval().save_pretrained(path)
    processor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    CLIPProcessor(image_processor=processor, tokenizer=tokenizer).save_pretrained(path)
    return path
