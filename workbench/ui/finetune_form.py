"""The new-fine-tune form: a preset, then every spec field, validated before anything starts."""
from __future__ import annotations

import streamlit as st

from workbench.finetune.spec import OVERLONG, PRESETS, SCHEDULES, SpecError, TrainSpec
from workbench.models.registry import ModelError
from workbench.settings import Settings
from workbench.ui import safe
from workbench.ui.finetune import target_module_choices


def spec_form(settings: Settings, datasets: list[str]) -> TrainSpec | None:
    """Render the form; returns a valid spec when submitted (errors are shown, None returned)."""
    preset_name = st.radio("Preset", list(PRESETS), horizontal=True, key="ft_preset",
                           help="Quick CPU demo: 20 steps of 8 examples; on the sample dataset it took 2 to 7 "
                                "minutes on a shared 2-core CPU and taught the house answer format. "
                                "GPU standard: all linear layers, 3 epochs.")
    p = PRESETS[preset_name]
    try:
        modules = list(target_module_choices(settings, settings.generator_model))
    except ModelError as e:
        st.error(f"Model unavailable: {safe.text(e)}")
        return None
    k = f"ft_{preset_name}_"  # widgets keyed per preset, so switching presets resets their values
    with st.form("ft_new_job"):
        c1, c2 = st.columns(2)
        dataset = c1.selectbox("Dataset", datasets)
        adapter = c2.text_input("Adapter name", value=f"{dataset}-lora"[:64])
        st.markdown("**LoRA**")
        c = st.columns(3)
        r = c[0].number_input("r (rank)", 1, 256, p["lora_r"], key=k + "r")
        alpha = c[1].number_input("alpha", 1, 1024, p["lora_alpha"], key=k + "alpha")
        dropout = c[2].number_input("dropout", 0.0, 0.9, float(p["lora_dropout"]), 0.05, key=k + "dropout")
        targets = st.multiselect("Target modules (the model's linear layers)", modules,
                                 default=[m for m in p["target_modules"] if m in modules], key=k + "targets")
        st.markdown("**Optimisation**")
        c = st.columns(4)
        lr = c[0].number_input("learning rate", 1e-6, 0.1, float(p["learning_rate"]), format="%.1e", key=k + "lr")
        schedule = c[1].selectbox("schedule", SCHEDULES, index=SCHEDULES.index(p["lr_schedule"]), key=k + "sched")
        warmup = c[2].number_input("warmup steps", 0, 10000, p["warmup_steps"], key=k + "warm")
        seed = c[3].number_input("seed", 0, 2**31 - 1, p["seed"], key=k + "seed")
        c = st.columns(4)
        epochs = c[0].number_input("epochs", 0.1, 100.0, float(p["epochs"]), 0.5, key=k + "epochs")
        max_steps = c[1].number_input("max steps (0 = use epochs)", 0, 1_000_000, p["max_steps"], key=k + "steps")
        batch = c[2].number_input("batch size", 1, 512, p["batch_size"], key=k + "batch")
        accum = c[3].number_input("gradient accumulation", 1, 256, p["grad_accum"], key=k + "accum")
        st.markdown("**Data**")
        c = st.columns(4)
        max_len = c[0].number_input("max sequence length", 16, 32768, p["max_seq_len"], 32, key=k + "len")
        overlong = c[1].selectbox("longer examples are", OVERLONG, index=OVERLONG.index(p["overlong"]),
                                  format_func={"truncate": "truncated", "drop": "dropped"}.get, key=k + "over")
        val_fraction = c[2].number_input("validation fraction", 0.0, 0.89, float(p["val_fraction"]), 0.05,
                                         key=k + "valf")
        val_interval = c[3].number_input("validate every N steps", 0, 100000, p["val_interval"], key=k + "vali")
        max_val = st.number_input("validation examples per check (at most)", 1, 100000, p["max_val_examples"],
                                  key=k + "maxval", help="Each validation pass scores at most this many of the "
                                  "validation examples (a cap on its cost on CPU); the rest are not used.")
        if not st.form_submit_button("Launch fine-tune", type="primary", icon=":material/rocket_launch:"):
            return None
    try:
        return TrainSpec(
            dataset=dataset, adapter_name=adapter.strip(), base_model=settings.generator_model, lora_r=int(r),
            lora_alpha=int(alpha), lora_dropout=float(dropout), target_modules=tuple(targets), learning_rate=float(lr),
            lr_schedule=schedule, warmup_steps=int(warmup), epochs=float(epochs), max_steps=int(max_steps),
            batch_size=int(batch), grad_accum=int(accum), max_seq_len=int(max_len), overlong=overlong,
            val_fraction=float(val_fraction), val_interval=int(val_interval),
            max_val_examples=int(max_val), seed=int(seed),
        )
    except SpecError as e:
        st.error(safe.text(e))
        return None
