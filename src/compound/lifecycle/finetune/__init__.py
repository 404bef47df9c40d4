"""Fine-tuning an embedded model: a LoRA adapter trained with PEFT, written as GGUF for
llama.cpp (`compound finetune`), then judged against production and promoted as a version of
the LLM (:mod:`.promotion`)."""
