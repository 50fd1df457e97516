import torch

from pyg_tabular.compare import MLP


def test_categorical_codes_are_embedded_per_column():
    torch.manual_seed(0)
    model = MLP(2, [3, 4], num_outputs=2, hidden=8, embedding_dim=5)
    assert [e.num_embeddings for e in model.embeddings] == [3, 4]
    assert model.net[0].in_features == 2 + 2 * 5
    x = torch.tensor([[0.5, -1.0, 2.0, 3.0]])
    # The code picks an embedding row: the same as feeding that row by hand.
    embedded = torch.cat(
        [x[:, :2], model.embeddings[0].weight[2:3], model.embeddings[1].weight[3:4]], dim=1
    )
    torch.testing.assert_close(model(x), model.net(embedded))
    other = x.clone()
    other[0, 2] = 1.0
    assert not torch.allclose(model(other), model(x))
