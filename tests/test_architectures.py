"""Every registered architecture honours the contract; each classic model does what its text says."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import aezoo
from aezoo.core.seeding import seeded
from aezoo.testing.conformance import SMALL_CONFIGS

ARCHITECTURES = aezoo.list_models()
# The contract itself (shapes, gradients, JSON configs, save/load, bad inputs, training steps,
# capabilities) is checked for every architecture by the conformance kit in test_conformance.py;
# this file tests what each classic model does beyond it, on the kit's one table of small configs.


def make(name: str, **overrides) -> aezoo.Autoencoder:
    with seeded(0):
        return aezoo.create(name, **{**SMALL_CONFIGS.get(name, {}), **overrides})


def batch(model: aezoo.Autoencoder, n: int = 16, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, *model.input_shape, generator=torch.Generator().manual_seed(seed))


def adam(params) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=1e-3)


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_training_noise_comes_from_the_models_generator(name: str) -> None:
    """Masks, reparameterisation and prior draws use ``model.generator``: the trainer's seed, resumable."""
    model = make(name).train()
    x = batch(model, 8)
    terms = []
    for global_seed in (1, 2):
        torch.manual_seed(global_seed)  # must not matter
        model.generator = torch.Generator().manual_seed(7)
        terms.append(model.loss(x))
    for key, value in terms[0].items():
        assert torch.equal(value, terms[1][key]), key


# ---------------------------------------------------------------------------- MLP family
def test_tied_has_half_the_weights_and_transposed_decoder() -> None:
    stacked, tied = aezoo.create("stacked"), aezoo.create("tied")

    def weights(m: torch.nn.Module) -> int:
        return sum(p.numel() for n, p in m.named_parameters() if n.endswith("weight"))

    assert weights(tied) * 2 == weights(stacked)
    assert 0.49 < tied.num_params / stacked.num_params < 0.52
    assert not any(k.startswith("decoder.") for k in tied.state_dict())
    L = tied.num_layers
    for j in range(L):
        weight, bias = tied.decoder_params(j)
        assert torch.equal(weight, tied.encoder[L - 1 - j].weight.t())
        assert bias is tied.decoder_bias[j]
    # decoding really uses the transposed encoder weights
    z = torch.randn(3, tied.latent_dim)
    h = F.elu(F.linear(z, tied.encoder[1].weight.t(), tied.decoder_bias[0]))
    h = F.linear(h, tied.encoder[0].weight.t(), tied.decoder_bias[1])  # linear output
    torch.testing.assert_close(tied.decode(z).flatten(1), h)


def test_deep_accepts_any_dims_and_keeps_the_module_layout() -> None:
    dims = [784, 64, 8]
    model = aezoo.create("deep", dims=dims)
    assert model.latent_dim == 8
    assert isinstance(model.encoder, nn.ModuleList) and isinstance(model.decoder, nn.ModuleList)
    for i, layer in enumerate(model.encoder):
        assert isinstance(layer, nn.Linear) and (layer.in_features, layer.out_features) == (dims[i], dims[i + 1])
    for j, layer in enumerate(model.decoder):
        assert isinstance(layer, nn.Linear)
        assert (layer.in_features, layer.out_features) == (dims[-1 - j], dims[-2 - j])
    # logistic hidden units, linear code, logistic output
    x = batch(model, 4)
    z = model.encoder[1](torch.sigmoid(model.encoder[0](x.flatten(1))))
    torch.testing.assert_close(model.encode(x), z)
    r = torch.sigmoid(model.decoder[1](torch.sigmoid(model.decoder[0](z))))
    torch.testing.assert_close(model.decode(z).flatten(1), r)

    tied = aezoo.create("tied", dims=dims)
    assert isinstance(tied.decoder_bias, nn.ParameterList) and not hasattr(tied, "decoder")
    assert [b.shape[0] for b in tied.decoder_bias] == [64, 784]


def test_mlp_config_errors_say_how_to_fix() -> None:
    with pytest.raises(aezoo.ConfigError, match=r"dims=\(3072, 32\)"):
        aezoo.create("mlp", input_shape=(3, 32, 32))
    with pytest.raises(aezoo.ConfigError, match="did you mean 'relu'"):
        aezoo.create("mlp", activation="relus")
    with pytest.raises(aezoo.ConfigError, match="stacked"):
        aezoo.create("tied", tied=False)
    assert aezoo.create("mlp", input_shape=(3, 32, 32), dims=[3072, 16]).latent_dim == 16


# ---------------------------------------------------------------------------- regularized
def test_denoising_corrupts_in_training_only() -> None:
    model = make("denoising")
    x = batch(model, 8)
    model.train()
    torch.manual_seed(0)
    a = model.loss(x)["loss"]
    torch.manual_seed(1)
    b = model.loss(x)["loss"]
    assert a != b  # a different corruption each time
    train_out = model(x).reconstruction
    model.eval()
    clean = model.loss(x)["loss"]
    assert torch.equal(clean, model.loss(x)["loss"])
    torch.testing.assert_close(clean, F.mse_loss(model(x).reconstruction, x))
    assert torch.equal(train_out, model(x).reconstruction)  # forward never corrupts

    noisy = model.corrupt(torch.ones(256, *model.input_shape), generator=torch.Generator().manual_seed(0))
    assert abs((noisy == 0).float().mean().item() - model.config.noise_level) < 0.02
    gauss = make("denoising", noise="gaussian", noise_level=0.2)
    assert 0.15 < (gauss.corrupt(x) - x).std().item() < 0.25

    metrics = model.evaluation_metrics(x)
    assert set(metrics) == {"psnr_noisy", "psnr_denoised"}
    assert all(torch.isfinite(v).all() for v in metrics.values())
    assert torch.equal(metrics["psnr_noisy"], model.evaluation_metrics(x)["psnr_noisy"])


@pytest.mark.parametrize("penalty", ["kl", "l1"])
def test_sparse_penalties_are_positive(penalty: str) -> None:
    model = make("sparse", penalty=penalty)
    terms = model.loss(batch(model))
    assert set(terms) == {"reconstruction", "sparsity", "loss"}
    assert terms["sparsity"] > 0
    torch.testing.assert_close(terms["loss"], terms["reconstruction"] + terms["sparsity"])
    # KL vanishes when every unit's mean activation is the target
    if penalty == "kl":
        assert model.sparsity(torch.full((4, 64), model.config.rho)).abs() < 1e-6


def test_sparse_kl_needs_a_sigmoid_code() -> None:
    with pytest.raises(aezoo.ConfigError, match="code_activation='sigmoid'"):
        aezoo.create("sparse", code_activation="relu")
    assert aezoo.create("sparse", penalty="l1", code_activation="relu").config.penalty == "l1"


# ---------------------------------------------------------------------------- VAE
def test_vae_outputs_samples_and_bounds() -> None:
    model = make("vae").eval()
    x = batch(model, 16)
    out = model(x)
    assert torch.equal(out.latent, out.mean) and out.logvar.shape == out.mean.shape
    assert torch.equal(model.encode(x), out.mean)
    assert not torch.equal(model.train()(x).latent, out.mean)  # sampled in training
    model.eval()

    samples = model.sample(5, generator=torch.Generator().manual_seed(0))
    assert samples.shape == (5, *model.input_shape) and samples.min() >= 0 and samples.max() <= 1
    assert torch.equal(samples, model.sample(5, generator=torch.Generator().manual_seed(0)))

    g = torch.Generator().manual_seed(0)
    elbo = torch.stack([model.elbo(x, g) for _ in range(20)]).mean(0)
    iwae = model.log_likelihood(x, num_samples=64, generator=g)
    assert elbo.shape == iwae.shape == (16,)
    assert iwae.mean() >= elbo.mean()
    assert (elbo < 0).all()
    # the chunked path (one sample of one row per decoder call) gives a like estimate
    tiny = model.log_likelihood(x[:3], num_samples=8, generator=g, max_elements=x[0].numel())
    assert tiny.shape == (3,) and torch.isfinite(tiny).all()

    metrics = model.evaluation_metrics(x, nll_samples=8)
    assert set(metrics) == {"neg_elbo", "nll"}
    terms = model.loss(x)
    torch.testing.assert_close(terms["loss"], terms["reconstruction"] + terms["kl"])


def test_vae_log_likelihood_matches_the_importance_weights_written_out() -> None:
    """The fast path (x.l from the last layer's weights, softplus) equals Burda et al.'s formula."""
    model = make("vae", hidden_dims=(32, 16), latent_dim=3).eval()
    x = batch(model, 5)
    for inputs in (x, torch.bernoulli(x, generator=torch.Generator().manual_seed(1))):
        got = model.log_likelihood(inputs, num_samples=7, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            mean, logvar = model._posterior(inputs)
            eps = torch.randn((5, 7, 3), generator=torch.Generator().manual_seed(0))
            z = mean[:, None] + torch.exp(0.5 * logvar)[:, None] * eps
            log_px = -F.binary_cross_entropy_with_logits(
                model.decoder(z), inputs.flatten(1)[:, None].expand(-1, 7, -1), reduction="none"
            ).sum(-1)
            log_pz = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1)
            log_qz = torch.distributions.Normal(mean[:, None], torch.exp(0.5 * logvar)[:, None]).log_prob(z).sum(-1)
            want = torch.logsumexp(log_px + log_pz - log_qz, 1) - math.log(7)
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-4)


# ---------------------------------------------------------------------------- AAE
def test_aae_training_step_updates_the_discriminator() -> None:
    model = make("aae").train()
    x = batch(model, 16)
    optimizers = model.configure_optimizers(adam)
    assert set(optimizers) == {"ae", "disc", "gen"}
    disc = [p.detach().clone() for p in model.discriminator.parameters()]
    dec = [p.detach().clone() for p in model.decoder.parameters()]
    terms = model.training_step(x, optimizers)
    assert set(terms) >= {"reconstruction", "disc", "gen", "loss"}
    assert all(not torch.equal(a, b) for a, b in zip(disc, model.discriminator.parameters(), strict=True))
    assert all(not torch.equal(a, b) for a, b in zip(dec, model.decoder.parameters(), strict=True))
    assert model.sample(3).shape == (3, *model.input_shape)
    uniform = make("aae", prior="uniform", prior_scale=2.0)
    z = uniform.sample_prior(1000)
    assert z.abs().max() <= 2.0 and z.min() < -1.5


# ---------------------------------------------------------------------------- conv
@pytest.mark.parametrize("shape", [(3, 32, 32), (1, 15, 9)])
def test_conv_handles_other_image_shapes(shape: tuple[int, ...]) -> None:
    model = make("conv", input_shape=shape, latent_dim=5)
    x = batch(model, 4)
    out = model(x)
    assert out.reconstruction.shape == x.shape and out.latent.shape == (4, 5)
    assert out.reconstruction.min() >= 0 and out.reconstruction.max() <= 1


def test_conv_rejects_vector_inputs() -> None:
    with pytest.raises(aezoo.ConfigError, match="channels, height, width"):
        aezoo.create("conv", input_shape=(784,))


# ---------------------------------------------------------------------------- linear = PCA
def test_linear_autoencoder_matches_pca() -> None:
    g = torch.Generator().manual_seed(0)
    n, d, k = 64, 12, 3
    x = torch.randn(n, k, generator=g) @ torch.randn(k, d, generator=g) + 0.05 * torch.randn(n, d, generator=g)
    x = x + torch.randn(d, generator=g)  # a mean for the biases to learn
    centered = x - x.mean(0)
    _, _, vh = torch.linalg.svd(centered, full_matrices=False)
    pca_error = F.mse_loss(centered @ vh[:k].T @ vh[:k], centered).item()

    torch.manual_seed(0)
    model = aezoo.create("linear", input_shape=(d,), latent_dim=k)
    # A few Adam steps through the contract, then L-BFGS to converge.
    optimizers = model.configure_optimizers(adam)
    for _ in range(10):
        model.training_step(x, optimizers)
    lbfgs = torch.optim.LBFGS(model.parameters(), max_iter=500, tolerance_grad=1e-9, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        lbfgs.zero_grad()
        loss = model.loss(x)["loss"]
        loss.backward()
        return loss

    lbfgs.step(closure)
    ae_error = model.loss(x)["reconstruction"].item()
    assert pca_error <= ae_error + 1e-6  # PCA is optimal
    assert ae_error <= 1.01 * pca_error


def test_vae_dynamic_binarisation_is_part_of_the_model() -> None:
    vae = aezoo.create("vae", latent_dim=4, hidden_dims=[32], binarize=True).eval()
    x = torch.rand(16, 1, 28, 28)
    draw = vae._binarized(x, torch.Generator().manual_seed(0))
    assert set(draw.unique().tolist()) <= {0.0, 1.0}
    first = vae.evaluation_metrics(x, nll_samples=4)
    again = vae.evaluation_metrics(x, nll_samples=4)
    assert torch.equal(first["nll"], again["nll"])  # the binary test set is fixed by the seed
    plain = aezoo.create("vae", latent_dim=4, hidden_dims=[32]).eval()
    assert torch.equal(plain._binarized(x), x)


def test_mlp_family_cross_entropy_loss() -> None:
    """`deep` fine-tunes with cross-entropy, as Hinton & Salakhutdinov (2006) did on MNIST."""
    deep = aezoo.create("deep", dims=[784, 32, 8])
    assert deep.config.loss == "bce"
    x = torch.rand(8, 1, 28, 28)
    expected = torch.nn.functional.binary_cross_entropy(deep(x).reconstruction, x)
    assert torch.allclose(deep.loss(x)["reconstruction"], expected, atol=1e-5)
    assert aezoo.create("mlp").config.loss == "mse"
    with pytest.raises(aezoo.ConfigError, match="output_activation='sigmoid'"):
        aezoo.create("stacked", loss="bce")  # stacked has a linear output
