"""Which backends took every node of an op in executorch's operator test suite (recorded run).

Generated from docs/conformance_runs/ops_4backends_2026-12-03.json (executorch 1.5.1, XNNPACK,
Core ML, Vulkan and OpenVINO): for each op key (get_delegation_info's, e.g. aten_amax_default)
that fell back on at least one of them, the backends that delegated all of its nodes there.
Advice names these as backends to put after the one that refused (`analysis.advice`); it is
a recorded fact about that suite, not a promise for every shape.
"""

SUITE = "executorch's operator test suite (executorch 1.5.1, recorded 2026-12-03)"

TAKEN_EVERYWHERE: dict[str, tuple[str, ...]] = {
    "aten__adaptive_avg_pool2d_default": ("openvino",),
    "aten__adaptive_avg_pool3d_default": ("openvino",),
    "aten__embedding_bag_default": ("openvino",),
    "aten_abs_default": ("coreml", "openvino"),
    "aten_add_tensor": ("openvino", "vulkan"),
    "aten_alias_copy_default": ("coreml", "openvino", "vulkan"),
    "aten_amax_default": ("coreml", "openvino"),
    "aten_amin_default": ("coreml", "openvino"),
    "aten_arange_start_step": ("openvino", "vulkan"),
    "aten_argmax_default": ("openvino",),
    "aten_argmin_default": ("openvino",),
    "aten_avg_pool2d_default": ("coreml", "openvino", "vulkan"),
    "aten_avg_pool3d_default": ("coreml", "openvino"),
    "aten_ceil_default": ("coreml", "openvino", "xnnpack"),
    "aten_clamp_default": ("coreml", "openvino", "vulkan"),
    "aten_convolution_default": ("openvino",),
    "aten_copy_default": ("openvino",),
    "aten_div_tensor_mode": ("coreml", "openvino", "vulkan"),
    "aten_elu_default": ("coreml", "openvino"),
    "aten_embedding_default": ("coreml", "openvino", "vulkan"),
    "aten_expand_copy_default": ("coreml", "openvino", "vulkan"),
    "aten_flip_default": ("coreml", "openvino", "vulkan"),
    "aten_floor_default": ("coreml", "openvino", "xnnpack"),
    "aten_full_default": ("coreml", "openvino", "vulkan"),
    "aten_index_put_default": ("coreml", "openvino"),
    "aten_index_select_default": ("coreml", "openvino", "vulkan"),
    "aten_index_tensor": ("openvino",),
    "aten_le_scalar": ("openvino", "vulkan"),
    "aten_log10_default": ("coreml", "openvino", "vulkan"),
    "aten_log1p_default": ("coreml", "openvino"),
    "aten_log2_default": ("coreml", "openvino"),
    "aten_log_default": ("coreml", "openvino", "xnnpack"),
    "aten_max_pool2d_with_indices_default": ("openvino", "vulkan"),
    "aten_max_pool3d_with_indices_default": ("openvino",),
    "aten_mean_dim": ("coreml", "openvino"),
    "aten_pow_tensor_scalar": ("coreml", "openvino", "vulkan"),
    "aten_round_default": ("coreml", "vulkan"),
    "aten_select_copy_int": ("coreml", "openvino", "vulkan"),
    "aten_slice_copy_tensor": ("coreml", "openvino", "vulkan"),
    "aten_slice_scatter_default": ("openvino",),
    "aten_split_with_sizes_copy_default": ("coreml", "openvino", "vulkan"),
    "aten_squeeze_copy_dims": ("coreml", "openvino", "vulkan"),
    "aten_sub_tensor": ("openvino", "vulkan"),
    "aten_unsqueeze_copy_default": ("coreml", "openvino", "vulkan"),
    "aten_upsample_nearest2d_vec": ("coreml", "openvino", "vulkan"),
    "aten_where_self": ("openvino", "vulkan"),
    "dim_order_ops__to_dim_order_copy_default": ("openvino", "vulkan"),
    "scalar_tensor": ("openvino",),
}
