"""Groups, projects and members driven by python-gitlab, unchanged, as a GitLab tenant would.

The callers reach metad through its socket with identity headers until authd issues tokens, and
through the gateway with PRIVATE-TOKEN after (see tenancy.py)."""
import gitlab
import pytest

from tenancy import anonymous, create_user


@pytest.fixture
def people(registry, uniq):
    """alice (creates everything), bob, carol, dave (no access), and an admin."""
    return {name: create_user(registry, f"{name}{uniq}", admin=(name == "admin"))
            for name in ("alice", "bob", "carol", "dave", "admin")}


def test_tenant_lifecycle_with_python_gitlab(registry, uniq, people):
    alice, bob, carol = people["alice"], people["bob"], people["carol"]
    gl = alice.gitlab()

    acme = gl.groups.create({"name": f"Acme {uniq}", "path": f"acme-{uniq}",
                             "description": "the company"})
    assert acme.full_path == f"acme-{uniq}" and acme.parent_id is None
    assert acme.visibility == "private"
    assert acme.web_url == f"{registry.url}/groups/acme-{uniq}"
    platform = gl.groups.create({"name": "Platform", "path": "platform", "parent_id": acme.id})
    assert platform.full_path == f"acme-{uniq}/platform"
    assert platform.full_name == f"Acme {uniq} / Platform"
    assert platform.parent_id == acme.id

    web = gl.projects.create({"name": "Web", "namespace_id": platform.id,
                              "visibility": "private"})
    assert web.path == "web"
    assert web.path_with_namespace == f"acme-{uniq}/platform/web"
    assert web.name_with_namespace == f"Acme {uniq} / Platform / Web"
    assert web.namespace["id"] == platform.id and web.namespace["kind"] == "group"
    assert web.namespace["full_path"] == f"acme-{uniq}/platform"
    assert web.container_registry_image_prefix == f"{registry.host}/acme-{uniq}/platform/web"
    assert web.container_registry_access_level == "enabled"
    assert web.container_registry_enabled is True
    assert web.default_branch is None and web.visibility == "private"

    # by URL-encoded full path, as clients name projects
    same = gl.projects.get(f"acme-{uniq}/platform/web")
    assert same.id == web.id
    assert gl.groups.get(f"acme-{uniq}/platform").id == platform.id

    # bob Reporter of the top group, carol Developer of the project
    acme.members.create({"user_id": bob.id, "access_level": gitlab.const.REPORTER_ACCESS})
    web.members.create({"user_id": carol.id, "access_level": gitlab.const.DEVELOPER_ACCESS})
    direct = {m.username: m.access_level for m in web.members.list()}
    assert direct == {carol.username: 30}
    everyone = {m.username: m.access_level for m in web.members_all.list()}
    assert everyone == {alice.username: 50, bob.username: 20, carol.username: 30}
    assert web.members_all.get(bob.id).access_level == 20
    assert {m.username for m in acme.members.list()} == {alice.username, bob.username}
    carol_member = web.members.get(carol.id)
    assert carol_member.created_by["username"] == alice.username
    assert carol_member.web_url == f"{registry.url}/{carol.username}"

    # what each of them lists
    assert [g.full_path for g in bob.gitlab().groups.list()] == [
        f"acme-{uniq}", f"acme-{uniq}/platform"]
    assert [s.path for s in acme.subgroups.list()] == ["platform"]
    assert [p.path_with_namespace for p in acme.projects.list(include_subgroups=True)] == [
        web.path_with_namespace]
    assert acme.projects.list() == []
    # python-gitlab follows the Link headers across pages
    for i in range(3):
        gl.projects.create({"name": f"extra{i}", "namespace_id": platform.id})
    paged = acme.projects.list(include_subgroups=True, get_all=True, per_page=1)
    assert len(paged) == 4 and len({p.id for p in paged}) == 4
    for p in paged:
        if p.id != web.id:
            gl.projects.delete(p.id)
    assert [p.id for p in carol.gitlab().projects.list(membership=True)] == [web.id]
    assert [p.id for p in bob.gitlab().projects.list(membership=True)] == [web.id]
    bob_view = bob.gitlab().projects.get(web.id)
    assert bob_view.permissions == {"project_access": None,
                                    "group_access": {"access_level": 20,
                                                     "notification_level": 3}}

    # updates
    carol_member.access_level = gitlab.const.MAINTAINER_ACCESS
    carol_member.save()
    assert web.members.get(carol.id).access_level == 40
    web.description = "front end"
    web.container_registry_access_level = "private"
    web.save()
    web = gl.projects.get(web.id)
    assert web.description == "front end" and web.container_registry_access_level == "private"
    platform.description = "platform team"
    platform.save()
    assert gl.groups.get(platform.id).description == "platform team"

    # errors as GitLab reports them
    with pytest.raises(gitlab.GitlabCreateError) as e:
        web.members.create({"user_id": carol.id, "access_level": 30})
    assert e.value.response_code == 409 and e.value.error_message == "Member already exists"
    with pytest.raises(gitlab.GitlabGetError) as e:
        people["dave"].gitlab().projects.get(web.id)
    assert e.value.response_code == 404 and e.value.error_message == "404 Project Not Found"
    with pytest.raises(gitlab.GitlabGetError) as e:
        people["dave"].gitlab().groups.get(acme.id)
    assert e.value.response_code == 404 and e.value.error_message == "404 Group Not Found"
    with pytest.raises(gitlab.GitlabGetError) as e:
        web.members.get(people["dave"].id)
    assert e.value.response_code == 404 and e.value.error_message == "404 Not found"

    # deletes
    web.members.delete(carol.id)
    assert {m.username for m in web.members_all.list()} == {alice.username, bob.username}
    acme.members.delete(bob.id)
    with pytest.raises(gitlab.GitlabGetError):
        bob.gitlab().projects.get(web.id)
    gl.projects.delete(web.id)
    with pytest.raises(gitlab.GitlabGetError) as e:
        gl.projects.get(web.id)
    assert e.value.response_code == 404
    gl.groups.delete(acme.id)
    with pytest.raises(gitlab.GitlabGetError):
        gl.groups.get(platform.id)


def test_rename_and_transfer_with_python_gitlab(registry, uniq, people):
    gl = people["alice"].gitlab()
    acme = gl.groups.create({"name": "Acme", "path": f"acme-{uniq}"})
    platform = gl.groups.create({"name": "Platform", "path": f"plat-{uniq}",
                                 "parent_id": acme.id})
    other = gl.groups.create({"name": "Other", "path": f"other-{uniq}"})
    web = gl.projects.create({"name": "web", "namespace_id": platform.id})
    api = gl.projects.create({"name": "api", "namespace_id": acme.id})

    acme.path = f"acme2-{uniq}"
    acme.name = "Acme Two"
    acme.save()
    web = gl.projects.get(web.id)
    assert web.path_with_namespace == f"acme2-{uniq}/plat-{uniq}/web"
    assert web.name_with_namespace == "Acme Two / Platform / web"
    assert gl.projects.get(api.id).path_with_namespace == f"acme2-{uniq}/api"
    assert gl.groups.get(platform.id).full_path == f"acme2-{uniq}/plat-{uniq}"
    with pytest.raises(gitlab.GitlabGetError):
        gl.projects.get(f"acme-{uniq}/plat-{uniq}/web")

    web.path = "www"
    web.save()
    assert gl.projects.get(f"acme2-{uniq}/plat-{uniq}/www").id == web.id

    web.transfer(other.id)
    web = gl.projects.get(web.id)
    assert web.path_with_namespace == f"other-{uniq}/www"
    assert web.namespace["id"] == other.id

    platform = gl.groups.get(platform.id)
    gl.projects.create({"name": "cli", "namespace_id": platform.id})
    platform.transfer(other.id)
    moved = gl.groups.get(platform.id)
    assert moved.full_path == f"other-{uniq}/plat-{uniq}" and moved.parent_id == other.id
    assert moved.full_name == f"Other / Platform"
    assert gl.projects.get(f"other-{uniq}/plat-{uniq}/cli").namespace["id"] == platform.id
    platform.transfer()
    top = gl.groups.get(platform.id)
    assert top.parent_id is None and top.full_path == f"plat-{uniq}"
    assert gl.projects.get(f"plat-{uniq}/cli").path_with_namespace == f"plat-{uniq}/cli"
    assert {m.username for m in top.members.list()} == {people["alice"].username}
    gl.groups.delete(top.id)


def test_anonymous_python_gitlab_sees_public_only(registry, uniq, people):
    gl = people["alice"].gitlab()
    pub = gl.groups.create({"name": "Pub", "path": f"pub-{uniq}", "visibility": "public"})
    shown = gl.projects.create({"name": "shown", "namespace_id": pub.id, "visibility": "public"})
    gl.projects.create({"name": "hidden", "namespace_id": pub.id, "visibility": "private"})
    anon = anonymous(registry).gitlab()
    assert [p.path for p in anon.groups.get(pub.id).projects.list()] == ["shown"]
    assert anon.projects.get(shown.id).path_with_namespace == f"pub-{uniq}/shown"
    with pytest.raises(gitlab.GitlabAuthenticationError):
        anon.projects.create({"name": "nope"})
