"""What became of each of the 379 tests of WeightWatcher's ``tests/test.py`` (40 classes,
subclasses counted with the tests they inherit, as unittest runs them).

``TALLY[class][test] = (status, where)``: status is :data:`IDENTICAL` (the port runs the
test body with both imports and every observation agrees), :data:`DELIBERATE` (the port
checks the documented difference) or :data:`LEFT_OUT`; ``where`` is the port test
(``module::function``) for the first two and the reason for the third.
``tests/test_ww_port_tally.py`` checks the references and that docs/weightwatcher.md's table
has these counts.
"""

from __future__ import annotations

IDENTICAL = "identical"
DELIBERATE = "deliberate difference"
LEFT_OUT = "left out"

V = "test_ww_port_vgg::"
VF = "test_ww_port_vgg_fits::"
M = "test_ww_port_models::"
F = "test_ww_port_files::"
P = "test_ww_port_peft::"

NOTHING = "asserts nothing"
FIXTURE = "checks the test's temporary directory, not WeightWatcher"
KERAS = "Keras/TensorFlow model (not portable: no TensorFlow here)"
LAYER_CLASS = "constructs WeightWatcher's internal layer class"
LAYER_MAP = "calls WeightWatcher's internal PyStateDictDir.get_layer_map"
RMT = "WeightWatcher internals (RMT_Util)"
POWERLAW = "WeightWatcher internals (WW_powerlaw.Fit, RMT_Util.fit_clipped_powerlaw)"

_I, _D, _L = IDENTICAL, DELIBERATE, LEFT_OUT

VGG11_BASE: dict[str, tuple[str, str]] = {
    "test_print_watcher": (_I, V + "test_print_watcher"),
    "test_layer_ids": (_I, V + "test_layer_ids"),
    "test_get_framework_layer": (_I, V + "test_get_framework_layer"),
    "test_basic_columns": (_I, V + "test_basic_columns"),
    "test_basic_columns_with_model": (_I, V + "test_basic_columns"),
    "test_basic_columns_with_new_watcher": (_I, V + "test_basic_columns"),
    "test_analyze_columns": (_I, V + "test_analyze_columns"),
    "test_analyze_columns_with_model": (_I, V + "test_analyze_columns"),
    "test_mp_fit_columns": (_I, V + "test_mp_fit_columns"),
    "test_random_mp_fit_columns_": (_L, NOTHING),
    "test_bad_params": (_I, V + "test_bad_params"),
    "test_model_layer_types_ww2x": (_I, V + "test_describe"),
    "test_all_layer_types": (_I, V + "test_describe"),
    "test_filter_dense_layer_types": (_I, V + "test_filters"),
    "test_filter_layer_ids": (_I, V + "test_filters"),
    "test_negative_filter_layer_ids": (_I, V + "test_filters"),
    "test_filter_conv2D_layer_types": (_I, V + "test_filters"),
    "test_min_matrix_shape": (_I, V + "test_describe"),
    "test_max_matrix_shape": (_I, V + "test_describe"),
    "test_describe_model": (_I, V + "test_describe"),
    "test_describe_model_ww2x": (_I, V + "test_describe"),
    "test_dimensions": (_I, V + "test_dimensions"),
    "test_switch_channels": (_L, NOTHING),
    "test_compute_spectral_norms": (_I, V + "test_compute_spectral_norms"),
    "test_get_details": (_I, V + "test_get_details_and_summary"),
    "test_get_summary": (_I, V + "test_get_details_and_summary"),
    "test_get_summary_with_model": (_I, V + "test_get_details_and_summary"),
    "test_get_summary_with_new_model": (_D, V + "test_get_summary_with_new_model"),
    "test_getESD": (_I, V + "test_get_esd"),
    "test_getESD_with_model": (_I, V + "test_get_esd"),
    "test_randomize": (_I, V + "test_randomize_columns"),
    "test_rand_distance": (_I, V + "test_randomize_columns"),
    "test_ww_softrank": (_I, V + "test_randomize_columns"),
    "test_ww_maxdist": (_I, V + "test_randomize_columns"),
    "test_reset_params": (_I, V + "test_reset_params"),
    "test_density_fit": (_I, V + "test_density_fit"),
    "test_density_fit_on_randomized_W": (_I, V + "test_density_fit"),
    "test_svd_smoothing": (_D, VF + "test_svd_smoothing"),
    "test_svd_smoothing_with_model": (_D, VF + "test_svd_smoothing"),
    "test_svd_smoothing_alt": (_D, VF + "test_svd_smoothing"),
    "test_svd_smoothing_alt2": (_D, VF + "test_svd_smoothing"),
    "test_svd_sharpness": (_D, VF + "test_svd_sharpness"),
    "test_svd_sharpness_with_model": (_D, VF + "test_svd_sharpness"),
    "test_ESD_model_set": (_I, V + "test_get_esd"),
    "test_svd_sharpness2": (_D, VF + "test_svd_sharpness"),
    "test_runtime_warnings": (_L, "prints numpy's sqrt(-1) warning; no WeightWatcher call"),
    "test_max_N_too_small": (_I, V + "test_make_ww_iterator"),
    "test_max_evals_too_small": (_I, V + "test_max_evals_too_small"),
    "test_N_ge_M": (_I, V + "test_describe"),
    "test_num_evals": (_I, V + "test_describe"),
    "test_rf_value": (_I, V + "test_describe"),
    "test_randomize_mp_fits": (_I, V + "test_randomize_mp_fits"),
    "test_make_ww_iterator": (_I, V + "test_make_ww_iterator"),
    "test_start_ids_1": (_I, V + "test_start_ids_shift_every_id"),
    "test_start_ids_10": (_I, V + "test_start_ids_shift_every_id"),
    "test_ww_stacked_layer_iterator": (_D, V + "test_stacked_iterator_is_refused"),
    "test_ww_stacked_layer_details": (_D, V + "test_stacked_details_is_refused"),
    "test_rescale_eigenvalues": (_L, RMT),
    "test_permute_W": (_L, "WeightWatcher internals (apply_permute_W on its layer objects)"),
    "test_permute_W_with_model": (
        _L, "WeightWatcher internals (apply_permute_W on its layer objects)"
    ),
    "test_same_models": (_L, NOTHING),
}  # fmt: skip

_SVD_PASS = (_L, "overridden to do nothing (flat files are read-only)")
VGG11_FLATFILE = {
    **VGG11_BASE,
    "test_setup": (_L, FIXTURE),
    **{name: _SVD_PASS for name in VGG11_BASE if name.startswith("test_svd_")},
}

ALPHA_WW_FIT = {
    "test_WWFit_available": (_L, "imports WeightWatcher's internal WW_powerlaw.WWFit"),
    "test_compute_alphas": (_I, VF + "test_alpha_fits"),
    "test_fix_fingers_clip_xmax_w_Force": (_D, VF + "test_xmax_force_is_refused"),
    "test_fix_fingers_clip_xmax": (_I, VF + "test_alpha_fits"),
    "test_conv2d_fft": (_D, M + "test_conv2d_fft_is_refused"),
}

_FLAT_SETUP = {
    "test_setup_class": (_L, FIXTURE),
    "test_setup": (_L, FIXTURE),
    "test_tmpdir": (_L, "checks Python's TemporaryDirectory"),
    "test_make_and_remove_ww_tmp_dir": (_L, FIXTURE),
}


# Test_WWFlatFiles' eight tests; the port runs them on each of its four directories
FLAT_FILES = {
    **_FLAT_SETUP,
    "test_ww_layer_iterator": (_I, F + "test_ww_layer_iterator"),
    "test_infer_framework": (_I, F + "test_infer_framework"),
    "test_ww_layer_iterator_B": (_I, F + "test_ww_layer_iterator"),
    "test_ww_layer_attributes": (_I, F + "test_last_and_fc_layer"),
}


SAFETENSORS_DIR = {
    **FLAT_FILES,
    "test_extract_pytorch_bins_on_resnet18": (_L, NOTHING),
    "test_read_safetensors": (_L, "reads the file with safetensors only"),
    "test_static_read_safetensor_state_dict": (
        _L, "calls WeightWatcher's internal PyStateDictDir.read_safetensor_state_dict"
    ),
    "test_get_resnet_fc_layer": (_I, F + "test_last_and_fc_layer"),
    "test_get_last_layer": (_I, F + "test_last_and_fc_layer"),
    "test_get_layer_map_first": (_L, LAYER_MAP),
}  # fmt: skip

_LAYERS = {
    "test_pytorch_layer_constructor": (_L, LAYER_CLASS),
    "test_ww_layer_iterator": (_I, F + "test_layer_iterator"),
    "test_ww_layer_attributes": (_I, F + "test_layer_iterator"),
    "test_replace_weights_only": (_I, F + "test_replace_weights"),
    "test_replace_weights_and_biases": (_I, F + "test_replace_weights"),
}

_KERAS_LAYERS = [
    "test_keras_layer_constructor", "test_ww_layer_iterator", "test_ww_layer_attributes",
    "test_replace_weights_only", "test_replace_weights_and_biases",
]  # fmt: skip

TALLY: dict[str, dict[str, tuple[str, str]]] = {
    "Test_ValidParams": {
        "test_valid_params": (_I, M + "test_valid_params"),
        "test_invalid_PL_package_settings": (_I, M + "test_valid_params"),
        "test_layer_type_from_str": (_I, M + "test_layer_type_from_str"),
        "test_inverse": (_I, M + "test_valid_params"),
    },
    "Test_KerasLayers": {name: (_L, KERAS) for name in _KERAS_LAYERS},
    "Test_ReadKerasH5File": {"test_single_h5_file": (_L, KERAS)},
    "Test_KerasH5FileLayers": {
        name: (_L, KERAS) for name in [*_KERAS_LAYERS, "test_setup_class", "test_setup"]
    },
    "Test_PyTorchLayers": _LAYERS,
    "Test_PyTorchBins_Extractor": {
        "test_failed_test_tmpdir_removed": (_L, "checks Python's TemporaryDirectory"),
        "test_extract_pytorch_statedict": (_D, M + "test_extractor_is_not_provided"),
        "test_extract_safetensors_statedict": (_D, M + "test_extractor_is_not_provided"),
        "test_extract_pytorch_bins_on_resnet18": (_D, M + "test_extractor_is_not_provided"),
    },
    "Test_WWFlatFiles": FLAT_FILES,
    "Test_PyStateDictDir": {
        **FLAT_FILES,
        "test_get_layer_map_not_found": (_L, LAYER_MAP),
        "test_extract_pytorch_bins_on_resnet18": (_L, NOTHING),
    },
    "Test_SafeTensorsDict": {
        "test_SafeTensorsDict": (_L, "constructs WeightWatcher's internal SafeTensorDict")
    },
    "Test_SafeTensorsDir": SAFETENSORS_DIR,
    "Test_SafeTensorsDirNoLayerMap": {
        **SAFETENSORS_DIR,
        "test_get_layer_map_empty": (_L, LAYER_MAP),
        "test_get_layer_map_first": (_L, NOTHING),
        "test_get_layer_map_from_safetensors_json": (_L, LAYER_MAP),
    },
    "Test_PyStateDictLayers": _LAYERS,
    "Test_VGG11_noModel": {
        "test_basic_columns_no_model": (_I, V + "test_basic_columns"),
        "test_analyze_columns_no_model": (_I, V + "test_analyze_columns"),
        "test_svd_smoothing_no_model": (_D, VF + "test_svd_smoothing"),
        "test_get_summary_no_model": (_I, V + "test_get_details_and_summary"),
        "test_svd_sharpness_no_model": (_D, VF + "test_svd_sharpness"),
        "test_getESD_no_model": (_I, V + "test_get_esd"),
        "test_permute_W_no_model": VGG11_BASE["test_permute_W"],
        "test_randomize_no_model": (_I, V + "test_randomize_columns"),
        "test_intra_power_law_fit_no_model": (_D, M + "test_intra_is_refused"),
    },
    "Test_VGG11_Distances": {
        name: (_D, M + "test_distances")
        for name in [
            "test_same_distances",
            "test_distances",
            "test_Euclidian_distances",
            "test_Euclidian_distances_w_one_layer",
            "test_CKA_distances",
        ]
    },
    "Test_FineTunedBertWithLoRA": {
        "test_bert_availble": (_I, M + "test_bert"),
        "test_layer_alpha": (_I, M + "test_bert"),
    },
    "Test_BaseModel": {
        "test_base_model_in_constructor": (_I, M + "test_base_model"),
        "test_base_model_in_describe": (_I, M + "test_base_model"),
        "test_base_model_in_analyze": (_D, M + "test_base_model"),
        "test_base_model_not_in_analyze": (_D, M + "test_base_model"),
    },
    "Test_Albert": {
        "test_albert_availble": (_I, M + "test_albert_available"),
        "test_layer_alpha": (_I, M + "test_albert_layer_17"),
        "test_xmax_set": (_I, M + "test_albert_layer_17"),
        "test_layer_alpha_w_powerlaw": (_D, M + "test_albert_layer_17"),
        "test_fix_fingers": (_I, M + "test_albert_layer_17"),
        "test_fix_fingers_w_thresh": (_I, M + "test_albert_layer_17"),
        "test_fix_fingers_w_powerlaw": (_D, M + "test_albert_layer_17"),
    },
    "Test_DeltaLayerIterator": {
        "test_delta_layer_iterator_0": (_I, M + "test_delta_layer_iterator"),
        "test_delta_layer_iterator_1": (_I, M + "test_delta_layer_iterator"),
    },
    "Test_PeftLayerIterator": {
        **{
            name: (_I, P + "test_layer_counts")
            for name in [
                "test_layer_count",
                "test_layer_count_with_peft",
                "test_layer_count_with_peft_with_base",
                "test_layer_lora_A_with_peft",
                "test_layer_longnames_with_peft",
                "test_layer_longnames_with_peft_with_base",
            ]
        },
        "test_analyze_peft_with_base": (_I, P + "test_analyze_peft_with_base"),
    },
    "Test_Albert_DeltaLayerIterator": {
        "test_albert_availble": (_I, M + "test_albert_available"),
        "test_delta_layer_iterator_0": (_I, M + "test_albert_delta_layer_iterator"),
        "test_delta_layer_iterator_with_filters": (_I, M + "test_albert_delta_layer_iterator"),
        "test_safetensors_deltas": (_D, M + "test_albert_safetensors_deltas"),
        "test_deltas_layer_id_filters": (_D, M + "test_albert_deltas_layer_id_filters"),
        "test_safetensors_deltas_with_filter_by_names": (
            _D,
            M + "test_albert_safetensors_deltas_with_filter_by_names",
        ),
    },
    "Test_VGG11_Base": VGG11_BASE,
    "Test_VGG11_WWFlatFile": VGG11_FLATFILE,
    "Test_VGG11_PyStateDict": VGG11_BASE,
    "Test_VGG11_Alpha_w_PowerLawFit": {
        "test_powerlaw_package_available": (_L, "checks that the powerlaw package imports"),
        "test_compute_alphas": (_D, VF + "test_alpha_fits"),
        "test_intra_power_law_fit": (_D, M + "test_intra_is_refused"),
        "test_intra_power_law_fit2": (_D, M + "test_intra_is_refused"),
        "test_truncated_power_law_fit": (_D, VF + "test_tpl_fits"),
        "test_extended_truncated_power_law_fit": (_D, VF + "test_tpl_fits"),
        "test_fix_fingers_xmin_peak": (_D, VF + "test_alpha_fits"),
        "test_fix_fingers_clip_xmax_w_Force": (_D, VF + "test_xmax_force_is_refused"),
        "test_fix_fingers_clip_xmax_None": (_D, VF + "test_alpha_fits"),
    },
    "Test_VGG11_Alpha_w_WWFit": ALPHA_WW_FIT,
    "Test_VGG11_StateDict_Alpha_w_WWFit": ALPHA_WW_FIT,
    "Test_Keras": {
        name: (_L, KERAS)
        for name in [
            "test_kayer_ids",
            "test_basic_columns",
            "test_num_layers",
            "test_num_layers_with_model",
            "test_channels_first",
            "test_N_ge_M",
            "test_layer_ids",
            "test_keras_model_with_no_bias",
            "test_svd_smoothing_no_model",
        ]
    },
    "Test_ResNet": {
        name: (_I, M + "test_resnet_describe")
        for name in ["test_N_ge_M", "test_num_evals", "test_num_layers"]
    },
    "Test_ResNet_Models": {
        "test_weight_watcher": (_I, M + "test_resnet_describe"),
        "test_num_evals": (_I, M + "test_resnet_describe"),
    },
    "Test_RMT_Util": {
        name: (_L, RMT)
        for name in [
            "test_has_mac_accelerate",
            "test_vector_entropy",
            "test_permute_matrix",
            "test_detX_constraint",
            "test_combine_weights_and_biases",
            "test_line_entropy",
        ]
    },
    "Test_Vector_Metrics": {
        "test_valid_vectors": (_I, M + "test_valid_vectors_and_iterate_vectors"),
        "test_vector_iterator": (_I, M + "test_valid_vectors_and_iterate_vectors"),
        "test_vector_metrics": (_L, NOTHING + " (prints vector_metrics' output)"),
    },
    "Test_Distances": {},
    "Test_PyTorchSVD": {
        name: (_L, "WeightWatcher internals (RMT_Util's torch/scipy SVD switch)")
        for name in [
            "test_torch_svd",
            "test_bad_methods",
            "test_torch_availability",
            "test_torch_linalg",
        ]
    },
    "Test_PowerLaw": {
        "test_PL_speed": (_L, POWERLAW),
        "test_fit_attributes": (_L, POWERLAW),
        "test_fit_clipped_powerlaw": (_L, POWERLAW),
        "test_ww_power_law_fit_directly": (_L, NOTHING + " (its body only defines a function)"),
    },
    "Test_Plots": {"testPlots": (_I, M + "test_plots")},
    "Test_Pandas": {
        "test_column_names_describe_basic": (_I, M + "test_pandas_describe_columns"),
        "test_column_names_analyze": (_I, M + "test_pandas_columns"),
        "test_column_names_analyze_fix_fingers": (_I, M + "test_pandas_columns"),
        "test_column_names_analyze_detX": (_D, M + "test_pandas_refused_options"),
        "test_column_names_analyze_randomize": (_I, M + "test_pandas_columns"),
        "test_column_names_analyze_intra": (_D, M + "test_pandas_refused_options"),
        "test_column_names_analyze_mp_fit": (_I, M + "test_pandas_columns"),
    },
    "Test_SVDLowrank": {
        name: (_L, RMT)
        for name in [
            "test_svd_lowrank_accurate",
            "test_svd_lowrank_fast",
            "test_svd_values_accurate",
            "test_svd_values_fast",
            "test_value_errors",
        ]
    },
    "TestSmoothWTorch": {
        f"test_smooth_W_torch_{s}": (_L, RMT)
        for s in ["shape", "type", "rank", "values", "singular_values"]
    },
    "TestSmoothWNumpy": {
        f"test_smooth_W_numpy_{s}": (_L, RMT)
        for s in ["shape", "type", "rank", "values", "singular_values"]
    },
}

# the number of tests unittest runs per class (inherited ones included)
CLASS_SIZES = {
    "Test_ValidParams": 4, "Test_KerasLayers": 5, "Test_ReadKerasH5File": 1,
    "Test_KerasH5FileLayers": 7, "Test_PyTorchLayers": 5, "Test_PyTorchBins_Extractor": 4,
    "Test_WWFlatFiles": 8, "Test_PyStateDictDir": 10, "Test_SafeTensorsDict": 1,
    "Test_SafeTensorsDir": 14, "Test_SafeTensorsDirNoLayerMap": 16, "Test_PyStateDictLayers": 5,
    "Test_VGG11_noModel": 9, "Test_VGG11_Distances": 5, "Test_FineTunedBertWithLoRA": 2,
    "Test_BaseModel": 4, "Test_Albert": 7, "Test_DeltaLayerIterator": 2,
    "Test_PeftLayerIterator": 7, "Test_Albert_DeltaLayerIterator": 6, "Test_VGG11_Base": 61,
    "Test_VGG11_WWFlatFile": 62, "Test_VGG11_PyStateDict": 61,
    "Test_VGG11_Alpha_w_PowerLawFit": 9, "Test_VGG11_Alpha_w_WWFit": 5,
    "Test_VGG11_StateDict_Alpha_w_WWFit": 5, "Test_Keras": 9, "Test_ResNet": 3,
    "Test_ResNet_Models": 2, "Test_RMT_Util": 6, "Test_Vector_Metrics": 3, "Test_Distances": 0,
    "Test_PyTorchSVD": 4, "Test_PowerLaw": 4, "Test_Plots": 1, "Test_Pandas": 7,
    "Test_SVDLowrank": 5, "TestSmoothWTorch": 5, "TestSmoothWNumpy": 5,
}  # fmt: skip


def counts() -> dict[str, tuple[int, int, int]]:
    """Per class: (identical, deliberate difference, left out)."""
    out = {}
    for cls, tests in TALLY.items():
        statuses = [status for status, _ in tests.values()]
        out[cls] = (statuses.count(IDENTICAL), statuses.count(DELIBERATE), statuses.count(LEFT_OUT))
    return out
