"""Moving a project into a user's personal namespace, as python-gitlab's project.transfer() does:
the namespace's owner becomes the project's Owner, even when it was a member before."""
import gitlab

from tenancy import create_user


def personal_namespace(gl, username):
    return next(n for n in gl.namespaces.list(search=username) if n.kind == "user")


def test_transfer_into_a_user_namespace(registry, uniq):
    alice = create_user(registry, f"tra{uniq}")
    bob = create_user(registry, f"trb{uniq}")
    admin = create_user(registry, f"trc{uniq}", admin=True)
    gl = alice.gitlab()
    group = gl.groups.create({"name": f"Tr {uniq}", "path": f"tr-{uniq}"})
    project = gl.projects.create({"name": "app", "namespace_id": group.id})

    # into her own namespace, by id
    mine = personal_namespace(gl, alice.username)
    project.transfer(mine.id)
    moved = gl.projects.get(project.id)
    assert moved.path_with_namespace == f"{alice.username}/app"
    assert moved.namespace["kind"] == "user" and moved.namespace["id"] == mine.id
    assert moved.members.get(alice.id).access_level == 50

    # back to the group by path, then an admin gives it to bob, who was a Developer already
    project.transfer(group.full_path)
    assert gl.projects.get(project.id).path_with_namespace == f"tr-{uniq}/app"
    gl.projects.get(project.id).members.create(
        {"user_id": bob.id, "access_level": gitlab.const.DEVELOPER_ACCESS})
    as_admin = admin.gitlab()
    theirs = personal_namespace(as_admin, bob.username)
    r = admin.put(f"/projects/{project.id}/transfer", json={"namespace": theirs.id})
    assert r.status_code == 200, r.text
    assert r.json()["path_with_namespace"] == f"{bob.username}/app"
    as_bob = bob.gitlab()
    assert as_bob.projects.get(project.id).members.get(bob.id).access_level == 50
    assert f"{bob.username}/app" in [p.path_with_namespace for p in
                                     as_bob.projects.list(owned=True)]
